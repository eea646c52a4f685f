"""Entity-link graph: rings of linked identities, money mules, and their features."""
