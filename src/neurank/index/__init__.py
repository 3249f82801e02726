"""The embedded collection: documents, BM25 and vectors in one folder."""

from neurank.index.bm25 import BM25Index
from neurank.index.collection import Collection
from neurank.index.faiss_index import FaissIndex
from neurank.index.store import DocumentStore

__all__ = ["BM25Index", "Collection", "DocumentStore", "FaissIndex"]
