"""LendGuard: consumer protection for digital lenders."""

__version__ = "0.1.0"
