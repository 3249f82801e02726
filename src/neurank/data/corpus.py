"""Document corpora from JSONL or CSV files, validated line by line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from neurank.errors import DataError

OnEmpty = Literal["error", "keep", "skip"]


@dataclass(frozen=True)
class Document:
    """One searchable document; anything beyond id/title/text lives in `metadata`."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str:
        """What gets encoded: title and text joined, as BEIR does for bi-encoders."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


def _as_id(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _make_document(
    record: dict[str, Any],
    *,
    path: Path,
    line: int,
    id_field: str,
    title_field: str,
    text_field: str,
) -> Document:
    doc_id = _as_id(record.get(id_field))
    if doc_id is None:
        raise DataError("missing or empty document id", path=path, line=line, field=id_field)
    title, text = record.get(title_field) or "", record.get(text_field) or ""
    if not isinstance(title, str):
        raise DataError("title must be a string", path=path, line=line, field=title_field)
    if not isinstance(text, str):
        raise DataError("text must be a string", path=path, line=line, field=text_field)
    metadata: dict[str, Any] = {}
    for key, value in record.items():
        if key in (id_field, title_field, text_field):
            continue
        if key == "metadata" and isinstance(value, dict):
            metadata.update(value)
        else:
            metadata[key] = value
    return Document(id=doc_id, title=title, text=text, metadata=metadata)


def _validated(
    records: Iterable[tuple[int, dict[str, Any]]],
    *,
    path: Path,
    id_field: str,
    title_field: str,
    text_field: str,
    on_empty: OnEmpty,
) -> Iterator[Document]:
    first_line: dict[str, int] = {}
    for line, record in records:
        doc = _make_document(
            record,
            path=path,
            line=line,
            id_field=id_field,
            title_field=title_field,
            text_field=text_field,
        )
        if doc.id in first_line:
            raise DataError(
                f"duplicate document id {doc.id!r} (first seen on line {first_line[doc.id]})",
                path=path,
                line=line,
                field=id_field,
            )
        first_line[doc.id] = line
        if not doc.content.strip():
            if on_empty == "error":
                raise DataError(
                    f"document {doc.id!r} has no title and no text "
                    "(pass on_empty='keep' or 'skip' / --on-empty to accept it)",
                    path=path,
                    line=line,
                    field=text_field,
                )
            if on_empty == "skip":
                continue
        yield doc


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; bad JSON names its line."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON ({exc.msg} at column {exc.colno})",
                                path=path, line=line_no) from exc
            if not isinstance(record, dict):
                raise DataError("expected a JSON object", path=path, line=line_no)
            yield line_no, record


def read_jsonl_corpus(
    path: str | Path,
    *,
    id_field: str = "_id",
    title_field: str = "title",
    text_field: str = "text",
    on_empty: OnEmpty = "error",
) -> list[Document]:
    """Documents from a JSONL file (BEIR's corpus.jsonl or any JSON-lines export)."""
    path = Path(path)
    return list(
        _validated(iter_jsonl(path), path=path, id_field=id_field, title_field=title_field,
                   text_field=text_field, on_empty=on_empty)
    )


def read_csv_corpus(
    path: str | Path,
    *,
    id_field: str = "id",
    title_field: str = "title",
    text_field: str = "text",
    on_empty: OnEmpty = "error",
    delimiter: str | None = None,
) -> list[Document]:
    """Documents from a CSV/TSV file with a header row."""
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = reader.fieldnames or []
        for required in (id_field, text_field):
            if required not in header:
                raise DataError(f"header has no column {required!r} (columns: {header})",
                                path=path, line=1, field=required)

        def rows() -> Iterator[tuple[int, dict[str, Any]]]:
            for row in reader:
                if None in row:
                    raise DataError("more cells than header columns", path=path,
                                    line=reader.line_num)
                yield reader.line_num, row

        return list(
            _validated(rows(), path=path, id_field=id_field, title_field=title_field,
                       text_field=text_field, on_empty=on_empty)
        )


def read_corpus(
    source: str | Path,
    *,
    id_field: str | None = None,
    title_field: str = "title",
    text_field: str = "text",
    on_empty: OnEmpty = "error",
) -> list[Document]:
    """Documents from a BEIR folder, a .jsonl file or a .csv/.tsv file."""
    source = Path(source)
    if source.is_dir():
        corpus = source / "corpus.jsonl"
        if not corpus.exists():
            raise DataError("folder has no corpus.jsonl (expected a BEIR dataset folder)",
                            path=source)
        return read_jsonl_corpus(corpus, id_field=id_field or "_id", title_field=title_field,
                                 text_field=text_field, on_empty=on_empty)
    if not source.exists():
        raise DataError("no such file or folder", path=source)
    suffix = source.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        if id_field is None:
            first = next(iter_jsonl(source), (0, {}))[1]
            id_field = "_id" if "_id" in first else "id"
        return read_jsonl_corpus(source, id_field=id_field, title_field=title_field,
                                 text_field=text_field, on_empty=on_empty)
    if suffix in (".csv", ".tsv", ".tab"):
        return read_csv_corpus(source, id_field=id_field or "id", title_field=title_field,
                               text_field=text_field, on_empty=on_empty)
    raise DataError(f"unknown corpus format {suffix!r} (use a BEIR folder, .jsonl or .csv)",
                    path=source)
