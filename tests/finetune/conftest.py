"""Fixtures shared by the fine-tuning tests."""

import numpy as np
import pytest


@pytest.fixture
def scored_pairs(tmp_path):
    """Scores that follow the difference in length: the shared tiny model's tokenizer knows
    too few words for meaning, but its embeddings do vary with the number of tokens."""
    rng = np.random.default_rng(1)
    lines = ["sentence1\tsentence2\tscore"]
    for _ in range(120):
        n, m = rng.integers(1, 9, size=2)
        a, b = " ".join(["storm"] * n), " ".join(["rain"] * m)
        lines.append(f"{a}\t{b}\t{max(0.0, 5.0 - abs(int(n) - int(m)))}")
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path
