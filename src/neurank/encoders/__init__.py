"""Text encoders."""

from neurank.encoders.device import select_device
from neurank.encoders.sentence import SentenceEncoder, resolve_model

__all__ = ["SentenceEncoder", "resolve_model", "select_device"]
