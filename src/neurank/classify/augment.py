"""Training-set augmentation for small label sets (the note's `augment_dataset`).

Grows a training set to `target_size` with perturbed copies of its texts, drawn with
probability inversely proportional to the frequency of each text's rarest label, so rare
labels gain the most. Each copy applies one to two of three label-preserving edits, as in EDA
(Wei & Zou 2019) without a thesaurus: drop words (10%), swap two nearby words, delete a short
span. Used on the training split only; dev and test stay untouched.
"""

from __future__ import annotations

import numpy as np

from neurank.classify.data import LabelledTexts


def _drop_words(words: list[str], rng: np.random.Generator) -> list[str]:
    kept = [w for w in words if rng.random() >= 0.1]
    return kept or words


def _swap_nearby(words: list[str], rng: np.random.Generator) -> list[str]:
    if len(words) < 2:
        return words
    out = list(words)
    i = int(rng.integers(len(words) - 1))
    j = min(len(words) - 1, i + int(rng.integers(1, 3)))
    out[i], out[j] = out[j], out[i]
    return out


def _delete_span(words: list[str], rng: np.random.Generator) -> list[str]:
    if len(words) < 5:
        return words
    length = int(rng.integers(1, max(2, len(words) // 5)))
    start = int(rng.integers(len(words) - length))
    return words[:start] + words[start + length:]


EDITS = (_drop_words, _swap_nearby, _delete_span)


def perturb(text: str, rng: np.random.Generator) -> str:
    """`text` after one or two random edits (words split on whitespace)."""
    words = text.split()
    for edit in rng.choice(len(EDITS), size=int(rng.integers(1, 3)), replace=False):
        words = EDITS[edit](words, rng)
    return " ".join(words)


def augment(data: LabelledTexts, target_size: int, *, seed: int = 0) -> LabelledTexts:
    """`data` plus perturbed copies up to `target_size` texts (unchanged if already that big)."""
    extra = target_size - len(data)
    if extra <= 0:
        return data
    rng = np.random.default_rng(seed)
    counts = data.counts()
    rarity = np.asarray([1.0 / min((counts[label] for label in labels), default=len(data))
                         for labels in data.labels])
    picks = rng.choice(len(data), size=extra, p=rarity / rarity.sum())
    texts = data.texts + [perturb(data.texts[i], rng) for i in picks]
    labels = data.labels + [list(data.labels[i]) for i in picks]
    return LabelledTexts(texts, labels, f"{data.source} (+{extra} augmented)", data.label_set)
