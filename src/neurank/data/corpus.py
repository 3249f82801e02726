"""Document corpora from JSONL or CSV files, validated line by line."""

from __future__ import annotations

import codecs
import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from neurank.data.validate import Invalid, check_id, check_metadata, check_string, loads
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


def _make_document(
    record: dict[str, Any],
    *,
    path: Path,
    line: int,
    id_field: str,
    title_field: str,
    text_field: str,
) -> Document:
    try:
        doc_id = check_id(record.get(id_field), "document id")
    except Invalid as exc:
        raise DataError(str(exc), path=path, line=line, field=id_field) from None
    fields = {}
    for name in (title_field, text_field):
        value = record.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise DataError(f"must be a string, not {type(value).__name__}", path=path, line=line,
                            field=name)
        try:
            fields[name] = check_string(value)
        except Invalid as exc:
            raise DataError(str(exc), path=path, line=line, field=name) from None
    metadata: dict[str, Any] = {}
    for key, value in record.items():
        if key in (id_field, title_field, text_field):
            continue
        if key == "metadata" and isinstance(value, dict):
            metadata.update(value)
        else:
            metadata[key] = value
    try:
        check_metadata(metadata)
    except Invalid as exc:
        raise DataError(str(exc), path=path, line=line, field=exc.where or None) from None
    return Document(id=doc_id, title=fields[title_field], text=fields[text_field],
                    metadata=metadata)


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
            if title_field not in record and text_field not in record:
                raise DataError(
                    f"no field {text_field!r} or {title_field!r} (fields found: "
                    f"{sorted(record)[:20]}); name yours with --text-field/--title-field",
                    path=path, line=line, field=text_field)
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


def _first_invalid_utf8(path: Path) -> tuple[int, str] | None:
    """(line, reason) of the first bytes of `path` that are not UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return line + chunk.count(b"\n", 0, max(exc.start, 0)), exc.reason
            if not chunk:
                return None
            line += chunk.count(b"\n")


def open_text(path: Path, newline: str | None = None) -> TextIO:
    """`path` opened as UTF-8 text, after checking it is a file of UTF-8 text; problems name
    the path (and the line of the first bytes that are not UTF-8)."""
    if path.is_dir():
        raise DataError("is a folder, expected a file", path=path)
    if not path.exists():
        raise DataError("no such file", path=path)
    invalid = _first_invalid_utf8(path)
    if invalid is not None:
        raise DataError(f"not UTF-8 text ({invalid[1]})", path=path, line=invalid[0])
    return open(path, encoding="utf-8-sig", newline=newline)  # a leading BOM is not data


def _nonempty(documents: list[Document], path: Path) -> list[Document]:
    if not documents:
        raise DataError("no documents in the file (empty, or every one skipped)", path=path)
    return documents


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; bad JSON names its line."""
    path = Path(path)
    with open_text(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON ({exc.msg} at column {exc.colno})",
                                path=path, line=line_no) from exc
            except Invalid as exc:
                raise DataError(str(exc), path=path, line=line_no) from None
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
    return _nonempty(list(
        _validated(iter_jsonl(path), path=path, id_field=id_field, title_field=title_field,
                   text_field=text_field, on_empty=on_empty)), path)


CSV_FIELD_LIMIT = 10_000_000  # characters; the csv module's default (131,072) is a traceback


def iter_csv(path: str | Path, delimiter: str | None = None,
             required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of a CSV/TSV file with a header; `required` columns must exist.

    Strict quoting: an unterminated quote is an error instead of swallowing the rows after it.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with open_text(path, newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter, strict=True)
        try:
            header = reader.fieldnames or []
            if len(set(header)) != len(header):
                duplicated = sorted({h for h in header if header.count(h) > 1})
                raise DataError(f"duplicated columns in the header: {duplicated}", path=path,
                                line=1)
            for name in required:
                if name not in header:
                    raise DataError(f"header has no column {name!r} (columns: {header})",
                                    path=path, line=1, field=name)
            for row in reader:
                if None in row:
                    raise DataError("more cells than header columns", path=path,
                                    line=reader.line_num)
                yield reader.line_num, row
        except csv.Error as exc:
            raise DataError(f"malformed CSV ({exc})", path=path,
                            line=reader.line_num) from None


def read_csv_corpus(
    path: str | Path,
    *,
    id_field: str = "id",
    title_field: str = "title",
    text_field: str = "text",
    on_empty: OnEmpty = "error",
    delimiter: str | None = None,
) -> list[Document]:
    """Documents from a CSV/TSV file with a header row: an id column and a title and/or a
    text column."""
    path = Path(path)
    rows = iter_csv(path, delimiter, required=(id_field,))
    first = next(rows, None)
    if first is not None and title_field not in first[1] and text_field not in first[1]:
        raise DataError(f"header has neither a {text_field!r} nor a {title_field!r} column "
                        f"(columns: {sorted(first[1])}; pass --text-field/--title-field)",
                        path=path, line=1, field=text_field)
    records = itertools.chain([first] if first else [], rows)
    return _nonempty(list(_validated(records, path=path, id_field=id_field,
                                     title_field=title_field, text_field=text_field,
                                     on_empty=on_empty)), path)


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
