"""Generic helpers with no domain imports."""
