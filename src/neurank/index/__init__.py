"""The embedded collection: documents, BM25 and vectors in one folder."""

from neurank.index.bm25 import BM25Index
from neurank.index.collection import Collection
from neurank.index.store import DocumentStore
from neurank.index.vectors import FaissIndex

__all__ = ["BM25Index", "Collection", "DocumentStore", "FaissIndex"]
