"""The alliance's tests (a package: tests/cli has a test_demo.py and a test_cli.py too)."""
