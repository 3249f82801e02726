"""Readers and writers for corpora, queries, qrels and runs."""

from neurank.data.beir import BeirDataset, read_beir, read_queries
from neurank.data.corpus import Document, read_corpus, read_csv_corpus, read_jsonl_corpus
from neurank.data.trec import Qrels, Run, read_qrels, read_run, write_qrels, write_run

__all__ = [
    "BeirDataset",
    "Document",
    "Qrels",
    "Run",
    "read_beir",
    "read_corpus",
    "read_csv_corpus",
    "read_jsonl_corpus",
    "read_qrels",
    "read_queries",
    "read_run",
    "write_qrels",
    "write_run",
]
