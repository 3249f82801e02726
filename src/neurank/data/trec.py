"""TREC qrels and run files, so any run can be compared with trec_eval, Pyserini or ranx."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path

from neurank.artifacts import atomic_write_text
from neurank.data.corpus import open_text
from neurank.errors import DataError

Qrels = dict[str, dict[str, int]]
"""query id -> document id -> graded relevance"""
Run = dict[str, dict[str, float]]
"""query id -> document id -> score"""


MAX_GRADE = 1000  # TREC grades are small integers (negative ones mark spam in some qrels)


def _parse_int(value: str, *, path: Path, line: int, field: str) -> int:
    grade = _parse_number(value, path=path, line=line, field=field)
    if abs(grade) > MAX_GRADE:
        raise DataError(f"relevance grade {value!r} is out of range (-{MAX_GRADE}..{MAX_GRADE})",
                        path=path, line=line, field=field)
    return grade


def _parse_number(value: str, *, path: Path, line: int, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            raise DataError(f"expected a number, got {value!r}", path=path, line=line,
                            field=field) from None
        if not number.is_integer():
            raise DataError(f"expected an integer grade, got {value!r}", path=path, line=line,
                            field=field) from None
        return int(number)


def read_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels (`qid iter docid rel`) or BEIR qrels TSV (`query-id corpus-id score`)."""
    path = Path(path)
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
    with open_text(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            parts = raw.split()
            if not parts:
                continue
            if line_no == 1 and parts[0].lower() in ("query-id", "query_id", "qid", "query"):
                continue
            if len(parts) == 4:
                qid, _, docid, rel = parts
            elif len(parts) == 3:
                qid, docid, rel = parts
            else:
                raise DataError(f"expected 3 (BEIR) or 4 (TREC) columns, got {len(parts)}",
                                path=path, line=line_no)
            grade = _parse_int(rel, path=path, line=line_no, field="relevance")
            if (qid, docid) in first_line:
                raise DataError(f"query {qid!r} judges document {docid!r} twice (first on line "
                                f"{first_line[qid, docid]})", path=path, line=line_no)
            first_line[qid, docid] = line_no
            qrels.setdefault(qid, {})[docid] = grade
    if not qrels:
        raise DataError("no relevance judgements (the file is empty or only a header)",
                        path=path)
    return qrels


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    """Write TREC qrels (`qid 0 docid rel`)."""
    lines = [f"{qid} 0 {docid} {rel}" for qid, docs in qrels.items() for docid, rel in docs.items()]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def read_run(path: str | Path) -> Run:
    """Read a TREC run (`qid Q0 docid rank score tag`)."""
    path = Path(path)
    run: Run = {}
    with open_text(path, newline="") as handle:
        for line_no, raw in enumerate(csv.reader(handle, delimiter=" ", skipinitialspace=True),
                                      start=1):
            parts = [p for p in raw if p]
            if not parts:
                continue
            if len(parts) != 6:
                raise DataError(f"expected 6 columns (qid Q0 docid rank score tag), got "
                                f"{len(parts)}", path=path, line=line_no)
            qid, _, docid, _, score, _ = parts
            try:
                value = float(score)
            except ValueError:
                raise DataError(f"score is not a number: {score!r}", path=path, line=line_no,
                                field="score") from None
            if not math.isfinite(value):
                raise DataError(f"score is {score}, not a finite number", path=path,
                                line=line_no, field="score")
            run.setdefault(qid, {})[docid] = value
    return run


def write_run(path: str | Path, run: Mapping[str, Mapping[str, float]], tag: str = "neurank") -> None:
    """Write a TREC run, ranks following descending score."""
    lines = []
    for qid, docs in run.items():
        ranked = sorted(docs.items(), key=lambda item: (-item[1], item[0]))
        lines += [f"{qid} Q0 {docid} {rank} {score:.6f} {tag}"
                  for rank, (docid, score) in enumerate(ranked, start=1)]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
