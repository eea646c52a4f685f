"""Conduct: the contact guard for collection and marketing contacts (R13, R16-R19, R23-R24,
R33), the consent and rescue-state interfaces it reads, and the versioned policy files that
hold every threshold with its source (:mod:`lendguard.policies`)."""
