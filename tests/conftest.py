"""Shared fixtures: a tiny random sentence-transformers model built from a config (no hub)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "datasets"
SHARED_DATA = Path(os.environ.get("NEURANK_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-d BERT with mean pooling, saved as a sentence-transformers folder."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-model")
    text = (SAMPLE / "corpus.jsonl").read_text() + (SAMPLE / "queries.jsonl").read_text()
    words = sorted(set(re.findall(r"[a-z0-9]+", text.lower())))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # transformers 5 ignores `vocab_file=` (the tokenizer kept only its 5 special tokens, so
    # every word was [UNK]); `vocab=` takes the file
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"))
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    hf_dir = folder / "hf"
    BertModel(config).save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    transformer = models.Transformer(str(hf_dir), max_seq_length=64)
    pooling = models.Pooling(transformer.get_embedding_dimension(), "mean")
    model_dir = folder / "st"
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(model_dir))
    return model_dir


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path):
    from neurank.encoders import SentenceEncoder

    return SentenceEncoder(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def sample_documents():
    from neurank.data import read_corpus

    return read_corpus(SAMPLE)


@pytest.fixture
def sample_collection(tmp_path, tiny_encoder, tiny_model_dir, sample_documents):
    from neurank.config import CollectionConfig
    from neurank.index import Collection

    config = CollectionConfig(model=str(tiny_model_dir))
    return Collection.build(tmp_path / "coll", sample_documents, config, encoder=tiny_encoder,
                            show_progress=False)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The BEIR-format sample corpus shipped in samples/datasets."""
    return SAMPLE


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark datasets folder (../shared/data, or $NEURANK_SHARED_DATA)."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def require_data():
    """`require_data(path)`: skip when a benchmark file is missing, but fail under CI=true,
    where a pinned figure that silently does not run would pass for the wrong reason."""

    def require(path: Path) -> Path:
        if path.exists():
            return path
        message = f"{path} not found (set NEURANK_SHARED_DATA to the benchmark data folder)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; under CI=true the pinned-figure checks must run")
        pytest.skip(message)
        return path

    return require


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def interactions():
    """60 users in two taste groups over 40 items (deterministic)."""
    import numpy as np

    from neurank.data.interactions import Interactions

    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(60):
        group = u % 2  # even users like items 0-19, odd users items 20-39
        liked = rng.choice(np.arange(20) + 20 * group, size=8, replace=False)
        users += [u] * len(liked)
        items += liked.tolist()
    users += [0, 1]  # two cross-group interactions so popularity is not flat
    items += [39, 0]
    return Interactions([f"u{u}" for u in range(60)], [f"i{i}" for i in range(40)],
                        np.asarray(users), np.asarray(items),
                        np.ones(len(users), dtype=np.float32),
                        np.arange(len(users), dtype=np.float64))


@pytest.fixture(scope="session")
def neurank():
    """Run the real `neurank` command line in a subprocess; fails with its stderr."""
    import subprocess
    import sys

    def run(*args, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1",
               "COLUMNS": "200"}
        result = subprocess.run([sys.executable, "-m", "neurank.cli", *map(str, args)],
                                capture_output=True, text=True, env=env, timeout=600)
        if check and result.returncode != 0:
            raise AssertionError(f"neurank {args} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


def _labelled_rows(documents, count: int, seed: int) -> list[dict]:
    """Texts joined from one or two sample documents, labelled with their categories."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        picks = rng.choice(len(documents), size=int(rng.integers(1, 3)), replace=False)
        docs = [documents[i] for i in picks]
        rows.append({"text": " ".join(d.text for d in docs),
                     "labels": sorted({d.metadata["category"] for d in docs})})
    return rows


@pytest.fixture(scope="session")
def labelled_dir(tmp_path_factory, sample_documents) -> Path:
    """A small multi-label dataset (train/dev/test JSONL, 10 labels) from the sample corpus;
    every word is in the tiny model's vocabulary."""
    import json

    folder = tmp_path_factory.mktemp("labelled")
    for split, count, seed in (("train", 240, 0), ("dev", 80, 1), ("test", 80, 2)):
        rows = _labelled_rows(sample_documents, count, seed)
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory, tiny_model_dir, labelled_dir) -> Path:
    """A frozen-mode classifier over the tiny model (torch encoder), trained for 3 epochs."""
    from neurank.classify import read_labelled, train_classifier
    from neurank.config import ClassifierConfig

    config = ClassifierConfig.for_mode("frozen", base=str(tiny_model_dir), encoder="torch")
    config.trainer = config.trainer.model_copy(update={"epochs": 3, "show_progress": False})
    folder = tmp_path_factory.mktemp("classifier") / "clf"
    train_classifier(read_labelled(labelled_dir, "train"), read_labelled(labelled_dir, "dev"),
                     config, folder)
    return folder
