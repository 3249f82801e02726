"""Text encoders."""

from neurank.encoders.sentence import SentenceEncoder, resolve_model

__all__ = ["SentenceEncoder", "resolve_model"]
