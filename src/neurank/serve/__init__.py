"""HTTP service (FastAPI): search, recommendations, document updates, metrics and a web page."""

from neurank.serve.app import create_app

__all__ = ["create_app"]
