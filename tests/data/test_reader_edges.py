"""Hostile and careless inputs to the corpus readers: each is a clear DataError naming the
file and line (and field where there is one), never a traceback or silently stored garbage.

The cases are the reader part of the fuzz corpus of the hardening issue; each one broke here
before (traceback, a > 4 GiB allocation, or garbage accepted that broke later searches)."""

import json

import pytest

from neurank.data import read_corpus
from neurank.errors import DataError

DEEP = '{"_id": "a", "text": "t", "m": ' + "[" * 1000 + "]" * 1000 + "}"
JSONL_CASES = {
    "invalid utf-8": (b'{"_id": "a", "text": "\xff\xfe"}\n', r":1: not UTF-8"),
    "utf-16 file": ('{"_id": "a", "text": "x"}\n'.encode("utf-16"), r":1: not UTF-8"),
    "random bytes": (bytes(range(256)) * 4, r":2: not UTF-8"),  # byte 10 ends line 1
    "nested 1000 deep": (DEEP.encode(), r":1: nested too deeply"),
    "5000-digit number": (('{"_id": "a", "text": "t", "n": ' + "9" * 5000 + "}").encode(),
                          r":1: Exceeds the limit"),
    "lone surrogate": (b'{"_id": "a", "text": "x\\ud800"}', r":1 field 'text': .*lone surrogate"),
    "NUL byte": (b'{"_id": "a", "text": "x\\u0000y"}', r":1 field 'text': text holds a NUL"),
    "NaN metadata": (b'{"_id": "a", "text": "t", "score": NaN}', r":1: NaN is not allowed"),
    "Infinity metadata": (b'{"_id": "a", "text": "t", "s": -Infinity}',
                          r":1: -Infinity is not allowed"),
    "1e999 metadata": (b'{"_id": "a", "text": "t", "s": {"x": [1e999]}}',
                       r":1 field 's.x\[0\]': NaN and infinite"),
    "huge integer": (b'{"_id": "a", "text": "t", "s": 1180591620717411303424}',
                     r":1 field 's': integers must fit in 64 bits"),
    "NaN id": (b'{"_id": NaN, "text": "t"}', r":1: NaN is not allowed"),
    "boolean id": (b'{"_id": true, "text": "t"}', r":1 field '_id': document id must be"),
    "float id": (b'{"_id": 1.5, "text": "t"}', r":1 field '_id': document id must be"),
    "1 MB id": (json.dumps({"_id": "x" * 1_000_000, "text": "t"}).encode(),
                r":1 field '_id': document id is longer than 512"),
    "id with a newline": (b'{"_id": "a\\nb", "text": "t"}', r":1 field '_id': .*one line"),
    "text false": (b'{"_id": "a", "text": false}', r":1 field 'text': must be a string, not bool"),
    "metadata key with NUL": (b'{"_id": "a", "text": "t", "m": {"k\\u0000": 1}}',
                              r":1 field 'm': a key holds a NUL"),
}


@pytest.mark.parametrize("case", JSONL_CASES, ids=list(JSONL_CASES))
def test_jsonl_case_is_a_clear_error(tmp_path, case):
    content, message = JSONL_CASES[case]
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_corpus(path)
    assert str(caught.value).startswith(str(path))


CSV_CASES = {
    "unterminated quote": ('id,text\n1,"never closed\n2,b\n3,c\n', r"malformed CSV"),
    "duplicated header": ("id,text,text\n1,a,b\n", r":1: duplicated columns in the header"),
    "invalid utf-8": (b"id,text\n1,\xff\n", r":2: not UTF-8"),
}


@pytest.mark.parametrize("case", CSV_CASES, ids=list(CSV_CASES))
def test_csv_case_is_a_clear_error(tmp_path, case):
    content, message = CSV_CASES[case]
    path = tmp_path / "corpus.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError, match=message):
        read_corpus(path)


def test_long_csv_fields_are_read(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("id,text\n1," + "word " * 40_000 + "\n")  # 200,000 characters
    assert len(read_corpus(path)[0].text) > 131_072


def test_a_folder_where_a_file_is_expected(tmp_path):
    (tmp_path / "corpus.jsonl").mkdir()  # a BEIR folder whose corpus is a folder
    with pytest.raises(DataError, match=r"corpus\.jsonl: is a folder, expected a file"):
        read_corpus(tmp_path)


def test_cli_reports_reader_errors_in_one_line(neurank, tmp_path):
    for name, (content, _) in list(JSONL_CASES.items())[:6]:
        path = tmp_path / "corpus.jsonl"
        path.write_bytes(content)
        result = neurank("index", path, "--out", tmp_path / "out", check=False)
        assert result.returncode == 2, (name, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.startswith("error:"), name
        assert not (tmp_path / "out").exists()


def test_other_field_names_are_listed_with_the_fix(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "1", "headline": "a", "body": "b"}\n')
    with pytest.raises(DataError, match=r"no field 'text' or 'title' \(fields found: \['body', "
                                        r"'headline', 'id'\]\); name yours with --text-field"):
        read_corpus(path)


def test_written_reports_are_readable_by_others(tmp_path):
    import os
    import stat

    from neurank.artifacts import atomic_write_text

    atomic_write_text(tmp_path / "report.md", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "report.md").st_mode) == 0o666 & ~mask
