import json

import pytest

from neurank.data import (
    read_beir,
    read_corpus,
    read_csv_corpus,
    read_jsonl_corpus,
    read_qrels,
    read_run,
    write_qrels,
    write_run,
)
from neurank.errors import DataError


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_keeps_extra_fields_and_nested_metadata(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", [
        json.dumps({"_id": "a", "title": "T", "text": "x", "category": "c",
                    "metadata": {"quality": 0.9}}),
    ])
    (doc,) = read_jsonl_corpus(path)
    assert (doc.id, doc.title, doc.text) == ("a", "T", "x")
    assert doc.metadata == {"category": "c", "quality": 0.9}
    assert doc.content == "T x"


@pytest.mark.parametrize(("line", "field", "message"), [
    ('{"_id": "a", "text": ', None, "invalid JSON"),
    ('{"text": "no id"}', "_id", "missing or empty document id"),
    ('{"_id": "b", "text": ""}', "text", "no title and no text"),
    ('{"_id": "a", "text": "again"}', "_id", "duplicate document id 'a' (first seen on line 1)"),
    ('["not", "an", "object"]', None, "expected a JSON object"),
])
def test_jsonl_errors_name_file_line_and_field(tmp_path, line, field, message):
    path = write_lines(tmp_path / "bad.jsonl", ['{"_id": "a", "text": "fine"}', line])
    with pytest.raises(DataError) as err:
        read_jsonl_corpus(path)
    assert err.value.line == 2
    assert err.value.field == field
    assert f"{path}:2" in str(err.value)
    assert message in str(err.value)


def test_empty_documents_can_be_kept_or_skipped(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", ['{"_id": "a", "text": ""}', '{"_id": "b", "text": "x"}'])
    assert [d.id for d in read_jsonl_corpus(path, on_empty="keep")] == ["a", "b"]
    assert [d.id for d in read_jsonl_corpus(path, on_empty="skip")] == ["b"]


def test_csv_corpus_with_custom_fields(tmp_path):
    path = write_lines(tmp_path / "c.csv", ["doc,name,body,year", "1,First,hello world,2020",
                                            '2,Second,"with, comma",2021'])
    docs = read_csv_corpus(path, id_field="doc", title_field="name", text_field="body")
    assert [(d.id, d.title, d.text, d.metadata) for d in docs] == [
        ("1", "First", "hello world", {"year": "2020"}),
        ("2", "Second", "with, comma", {"year": "2021"}),
    ]


def test_csv_errors(tmp_path):
    path = write_lines(tmp_path / "c.csv", ["id,title", "1,x"])
    assert [(d.id, d.title, d.text) for d in read_csv_corpus(path)] == [("1", "x", "")]
    path = write_lines(tmp_path / "n.csv", ["id,name", "1,x"])
    with pytest.raises(DataError, match="neither a 'text' nor a 'title' column"):
        read_csv_corpus(path)
    path = write_lines(tmp_path / "d.csv", ["id,text", "1,a", "1,b"])
    with pytest.raises(DataError, match=r"d.csv:3 field 'id': duplicate"):
        read_csv_corpus(path)
    path = write_lines(tmp_path / "e.csv", ["id,text", "1,a,extra"])
    with pytest.raises(DataError, match=r"e.csv:2: more cells"):
        read_csv_corpus(path)


def test_read_corpus_detects_format(tmp_path):
    write_lines(tmp_path / "corpus.jsonl", ['{"id": "x", "text": "plain id key"}'])
    assert read_corpus(tmp_path / "corpus.jsonl")[0].id == "x"
    with pytest.raises(DataError, match="unknown corpus format"):
        read_corpus(write_lines(tmp_path / "c.xml", ["<a/>"]))
    with pytest.raises(DataError, match="no such file"):
        read_corpus(tmp_path / "missing.jsonl")


def test_beir_counts_qrels_pointing_to_unknown_ids(tmp_path):
    write_lines(tmp_path / "corpus.jsonl", ['{"_id": "d1", "text": "a"}'])
    write_lines(tmp_path / "queries.jsonl", ['{"_id": "q1", "text": "a"}'])
    (tmp_path / "qrels").mkdir()
    write_lines(tmp_path / "qrels" / "test.tsv",
                ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q1\td9\t1", "q7\td1\t1"])
    data = read_beir(tmp_path, "test", load_corpus=True)
    assert data.qrels == {"q1": {"d1": 1, "d9": 1}}
    assert (data.unknown_doc_qrels, data.unknown_query_qrels) == (1, 1)
    assert len(data.problems()) == 2
    with pytest.raises(DataError, match="no qrels for split 'dev'"):
        read_beir(tmp_path, "dev")


def test_trec_round_trip(tmp_path):
    qrels = {"1": {"a": 2, "b": 0}, "2": {"c": 1}}
    write_qrels(tmp_path / "q.txt", qrels)
    assert read_qrels(tmp_path / "q.txt") == qrels
    run = {"1": {"a": 0.5, "b": 1.5}, "2": {"c": -1.0}}
    write_run(tmp_path / "r.txt", run)
    assert read_run(tmp_path / "r.txt") == run
    assert (tmp_path / "r.txt").read_text().splitlines()[0] == "1 Q0 b 1 1.500000 neurank"


def test_trec_errors_name_line(tmp_path):
    with pytest.raises(DataError, match=r"r.txt:2 field 'score': score is nan, not a finite"):
        read_run(write_lines(tmp_path / "r.txt", ["1 Q0 a 1 1.0 x", "1 Q0 b 2 nan x"]))
    with pytest.raises(DataError, match=r"r.txt:1 field 'score': score is inf, not a finite"):
        read_run(write_lines(tmp_path / "r.txt", ["1 Q0 a 1 inf x"]))
    with pytest.raises(DataError, match=r"q.txt:1 field 'relevance'"):
        read_qrels(write_lines(tmp_path / "q.txt", ["1 0 a high"]))


@pytest.mark.parametrize(("lines", "message"), [
    ([], r"q.tsv: no relevance judgements"),
    (["query-id\tcorpus-id\tscore"], r"q.tsv: no relevance judgements"),
    (["q1 d1 1e308"], r"q.tsv:1 field 'relevance': relevance grade '1e308' is out of range"),
    (["q1 d1 inf"], r"q.tsv:1 field 'relevance': expected an integer grade"),
    (["q1 d1 1", "q1 d1 2"], r"q.tsv:2: query 'q1' judges document 'd1' twice"),
])
def test_qrels_that_cannot_be_scored_are_errors(tmp_path, lines, message):
    with pytest.raises(DataError, match=message):
        read_qrels(write_lines(tmp_path / "q.tsv", lines))


def test_beir_folder_problems_are_named(tmp_path):
    from neurank.data import read_beir

    with pytest.raises(DataError, match=r"nope: no such folder"):
        read_beir(tmp_path / "nope")
    (tmp_path / "qrels").mkdir()
    write_lines(tmp_path / "qrels" / "test.tsv", ["q9 d1 1"])
    with pytest.raises(DataError, match=r"queries\.jsonl: no such file"):
        read_beir(tmp_path)
    write_lines(tmp_path / "queries.jsonl", ['{"_id": "q1", "text": "a"}',
                                              '{"_id": "q1", "text": "b"}'])
    with pytest.raises(DataError, match=r"queries.jsonl:2 field '_id': duplicate query id 'q1'"):
        read_beir(tmp_path)
    write_lines(tmp_path / "queries.jsonl", ['{"_id": "q1", "text": "a"}'])
    with pytest.raises(DataError, match=r"none of the 1 judgements names a query"):
        read_beir(tmp_path)
