"""User and item feature tables (profiles, catalogs): CSV/TSV/JSONL readers and MovieLens
100K's `u.user` / `u.item`, with errors that name the file, line and field."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurank.data.corpus import iter_jsonl
from neurank.data.validate import Invalid, check_metadata
from neurank.errors import DataError, NotFoundError

MOVIELENS_USER_FIELDS = ("age", "gender", "occupation", "zip")


@dataclass
class FeatureTable:
    """One record of named features per id; values are str, numbers, or lists of str."""

    ids: list[str]
    records: list[dict[str, Any]]
    source: str = ""

    def __post_init__(self) -> None:
        self.index = {key: row for row, key in enumerate(self.ids)}
        if len(self.index) != len(self.ids):
            seen: set[str] = set()
            duplicate = next(key for key in self.ids if key in seen or seen.add(key))
            raise DataError(f"id {duplicate!r} appears twice", path=self.source or None)

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, key: str) -> dict[str, Any]:
        try:
            return self.records[self.index[str(key)]]
        except KeyError:
            raise NotFoundError(f"no features for id {key!r} in {self.source or 'the table'}"
                                ) from None

    def fields(self) -> list[str]:
        """Every field name used by some record, in first-seen order."""
        return list(dict.fromkeys(name for record in self.records for name in record))


def _cell(value: str, list_separator: str) -> Any:
    """A CSV cell as a number when it reads as one, a list when it holds the separator."""
    value = value.strip()
    if not value:
        return None
    if list_separator and list_separator in value:
        return [part.strip() for part in value.split(list_separator) if part.strip()]
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return int(number) if number.is_integer() and "." not in value else number


def read_feature_table(path: str | Path, *, id_field: str = "id",
                       list_separator: str = "|") -> FeatureTable:
    """Features from a CSV/TSV (header row; cells holding `list_separator` become lists) or
    JSONL file (one object per line); `id_field` names each record's id."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = list(iter_jsonl(path))
    else:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            if id_field not in (reader.fieldnames or []):
                raise DataError(f"header has no column {id_field!r} (columns: "
                                f"{reader.fieldnames})", path=path, line=1, field=id_field)
            for row in reader:
                rows.append((reader.line_num, {k: _cell(v or "", list_separator)
                                               for k, v in row.items() if k is not None}))
    ids, records = [], []
    for line, row in rows:
        key = row.pop(id_field, None)
        if key is None or not str(key).strip():
            raise DataError("missing id", path=path, line=line, field=id_field)
        record = {k: v for k, v in row.items() if v is not None}
        try:
            check_metadata(record)
        except Invalid as exc:
            raise DataError(str(exc), path=path, line=line) from None
        ids.append(str(key).strip())
        records.append(record)
    if not records:
        raise DataError("no records", path=path)
    return FeatureTable(ids, records, source=str(path))


def read_movielens_users(path: str | Path) -> FeatureTable:
    """`u.user`: user id | age | gender | occupation | zip code."""
    path = Path(path)
    ids, records = [], []
    for line, text in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        cells = text.split("|")
        if len(cells) != 5:
            raise DataError("expected id|age|gender|occupation|zip", path=path, line=line)
        try:
            age = int(cells[1])
        except ValueError:
            raise DataError(f"age is not an integer: {cells[1]!r}", path=path, line=line,
                            field="age") from None
        ids.append(cells[0])
        records.append({"age": age, "gender": cells[2], "occupation": cells[3],
                        "zip": cells[4]})
    return FeatureTable(ids, records, source=str(path))


def read_movielens_items(path: str | Path) -> FeatureTable:
    """`u.item`: id | title | release date | video date | URL | 19 genre flags (names from
    `u.genre` beside it). Records: title, year (of release, when given), genres (a list)."""
    path = Path(path)
    genre_file = path.with_name("u.genre")
    if not genre_file.exists():
        raise DataError("u.genre (the genre names) is missing beside u.item", path=genre_file)
    genres = [line.split("|")[0] for line in genre_file.read_text(encoding="latin-1").splitlines()
              if line.strip()]
    ids, records = [], []
    for line, text in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        cells = text.split("|")
        if len(cells) != 5 + len(genres):
            raise DataError(f"expected 5 fields and {len(genres)} genre flags", path=path,
                            line=line)
        record: dict[str, Any] = {"title": cells[1],
                                  "genres": [g for g, flag in zip(genres, cells[5:], strict=True)
                                             if flag.strip() == "1"]}
        year = cells[2][-4:]
        if year.isdigit():
            record["year"] = int(year)
        ids.append(cells[0])
        records.append(record)
    return FeatureTable(ids, records, source=str(path))


def read_profiles(path: str | Path, *, id_field: str = "id") -> FeatureTable:
    """User or item features from a file; MovieLens `u.user` / `u.item` by their names."""
    path = Path(path)
    if path.name == "u.user":
        return read_movielens_users(path)
    if path.name == "u.item":
        return read_movielens_items(path)
    return read_feature_table(path, id_field=id_field)
