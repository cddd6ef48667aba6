"""The package version: the one place it is written (read by hatchling and `__init__`)."""

__version__ = "0.1.0"
