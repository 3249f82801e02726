"""A small multi-label dataset made from the sample corpus: texts joined from one or two
documents, labelled with their categories (so every word is in the tiny model's vocabulary)."""

import json

import numpy as np
import pytest


def make_split(documents, count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        picks = rng.choice(len(documents), size=int(rng.integers(1, 3)), replace=False)
        docs = [documents[i] for i in picks]
        rows.append({"text": " ".join(d.text for d in docs),
                     "labels": sorted({d.metadata["category"] for d in docs})})
    return rows


@pytest.fixture(scope="session")
def labelled_dir(tmp_path_factory, sample_documents):
    folder = tmp_path_factory.mktemp("labelled")
    for split, count, seed in (("train", 240, 0), ("dev", 80, 1), ("test", 80, 2)):
        rows = make_split(sample_documents, count, seed)
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder
