"""neurank: neural search and recommendation on your own data."""

__version__ = "0.1.0"
