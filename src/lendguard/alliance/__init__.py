"""The alliance (issue #20): lenders match blacklists and share fraud statistics without
revealing their customers.

- :mod:`.canonical` — one canonical form per identifier kind (resident ID, mobile, card,
  device id), checked with the checksum vectors of the privacy reference.
- :mod:`.group` — ristretto255 through the libsodium that ``rbcl`` bundles: hash to the group,
  fresh secret scalars, blinding in threads (libsodium releases the GIL).
- :mod:`.psi` — ECDH-PSI (intersection or cardinality only) and the bucketed OPRF lookup.
- :mod:`.secagg` — secure aggregation by pairwise additive masking with dropout tolerance.
- :mod:`.peer` — signed peer requests (Ed25519 member keys, mutually configured).
- service / repository / schemas / endpoints — the HTTP faces and their records.

See docs/alliance.md for the protocol, what each side learns, and the legal basis.
"""
