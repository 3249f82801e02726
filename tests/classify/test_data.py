"""Labelled-text readers: formats, and errors that name file, line and field."""

import json
from collections import Counter

import numpy as np
import pytest

from neurank.classify.augment import augment
from neurank.classify.data import LabelledTexts, label_order, read_labelled, split_off
from neurank.errors import DataError


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl_csv_and_folder_with_label_file(tmp_path):
    data = read_labelled(write(tmp_path / "a.jsonl", [
        {"text": "good day", "labels": ["joy", "joy", "calm"]},
        {"text": "no label", "labels": []},
        {"text": "one label as a string", "labels": "anger"}]))
    assert data.labels == [["joy", "calm"], [], ["anger"]]
    (tmp_path / "b.csv").write_text('body,tags\n"hello, you",joy;love\nbye,\n')
    csv = read_labelled(tmp_path / "b.csv", text_field="body", labels_field="tags")
    assert csv.texts == ["hello, you", "bye"] and csv.labels == [["joy", "love"], []]
    folder = tmp_path / "splits"
    folder.mkdir()
    write(folder / "train.jsonl", [{"text": "x", "labels": ["b"]}])
    (folder / "labels.txt").write_text("b\na\n")
    train = read_labelled(folder, "train")
    assert label_order(train) == ["b", "a"]  # the file's order, not sorted
    assert train.matrix(["b", "a"]).tolist() == [[True, False]]


@pytest.mark.parametrize(("line", "message"), [
    ('{"text": "x", "labels": ["a"]', "invalid JSON"),
    ('{"body": "x", "labels": ["a"]}', "no field 'text'"),
    ('{"text": "", "labels": ["a"]}', "text is empty"),
    ('{"text": 5, "labels": ["a"]}', "text is a int"),
    ('{"text": "x", "labels": {"a": 1}}', "expected a list"),
    ('{"text": "x", "labels": [true]}', "a label must be a string"),
    ('{"text": "x", "labels": [""]}', "invalid label name"),
    ('{"text": "x\\u0000y", "labels": ["a"]}', "NUL byte"),
    ('{"text": "\\ud800", "labels": ["a"]}', "lone surrogate"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, line, message):
    path = write(tmp_path / "bad.jsonl", [{"text": "fine", "labels": ["a"]}, line])
    with pytest.raises(DataError, match=message) as caught:
        read_labelled(path)
    assert str(caught.value).startswith(f"{path}:2")


def test_missing_things_are_named(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        read_labelled(tmp_path / "nope")
    (tmp_path / "train.jsonl").write_text("")
    with pytest.raises(DataError, match=r"no file for split 'dev' \(available: \['train'\]\)"):
        read_labelled(tmp_path, "dev")
    with pytest.raises(DataError, match="no labelled texts"):
        read_labelled(tmp_path, "train")
    (tmp_path / "x.csv").write_text("text,text\na,b\n")
    with pytest.raises(DataError, match="duplicated column"):
        read_labelled(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_bytes(b"text,labels\n\xff\xfe,a\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_labelled(tmp_path / "y.csv")


def test_unknown_labels_are_reported_not_dropped():
    data = LabelledTexts(["a", "b"], [["x"], ["y", "z"]], "test.jsonl")
    with pytest.raises(DataError, match=r"labels the model does not know: \['y', 'z'\]"):
        data.matrix(["x"])


def test_split_off_is_seeded_and_disjoint():
    data = LabelledTexts([f"t{i}" for i in range(50)], [["a"]] * 50, "s")
    rest, held = split_off(data, 0.2, seed=3)
    assert len(held) == 10 and len(rest) == 40
    assert not set(rest.texts) & set(held.texts)
    assert split_off(data, 0.2, seed=3)[1].texts == held.texts


def test_augment_reaches_the_target_and_favours_rare_labels():
    texts = [f"one two three four five six c{i}" for i in range(90)]
    texts += [f"alpha beta gamma delta epsilon zeta r{i}" for i in range(10)]
    data = LabelledTexts(texts, [["common"]] * 90 + [["rare"]] * 10, "s")
    grown = augment(data, 400, seed=0)
    assert len(grown) == 400 and grown.texts[:100] == texts  # originals kept, in order
    added = Counter(label for labels in grown.labels[100:] for label in labels)
    assert added["rare"] > added["common"]  # rarer labels are drawn more often
    vocabulary = {label: {w for t, ls in zip(texts, data.labels, strict=True) if label in ls
                          for w in t.split()} for label in ("common", "rare")}
    for text, labels in zip(grown.texts[100:], grown.labels[100:], strict=True):
        assert set(text.split()) <= vocabulary[labels[0]]  # a copy keeps its source's labels
    assert augment(data, 50) is data
    assert np.mean([t not in texts for t in grown.texts[100:]]) > 0.9
