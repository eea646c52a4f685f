"""The protection report (issue #21): figures from live data, by definitions written once."""
