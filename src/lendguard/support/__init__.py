"""Customer support: complaints (intake, taxonomy and classifier, clocks, early warning)."""
