"""Privacy: consent ledger, data map, data-subject requests, and personal-information
detection and masking (``pii``)."""
