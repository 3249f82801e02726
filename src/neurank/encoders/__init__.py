"""Text encoders behind one protocol: torch (sentence-transformers) and ONNX Runtime int8."""

from neurank.encoders.onnx import OnnxEncoder
from neurank.encoders.protocol import Encoder
from neurank.encoders.resolve import load_encoder, resolve_model
from neurank.encoders.sentence import SentenceEncoder

__all__ = ["Encoder", "OnnxEncoder", "SentenceEncoder", "load_encoder", "resolve_model"]
