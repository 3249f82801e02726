"""The search modes: each is a list of retrievers (one definition for CLI, API and TUI)."""

from __future__ import annotations

from typing import Literal, get_args

from neurank.errors import NeurankError

Mode = Literal["bm25", "dense", "hybrid", "learned"]
MODES: tuple[str, ...] = get_args(Mode)
RETRIEVERS: dict[str, tuple[str, ...]] = {
    "bm25": ("bm25",),
    "dense": ("dense",),
    "hybrid": ("bm25", "dense"),
    "learned": ("bm25", "dense"),  # scored by the collection's learned ranker
}


def retrievers_of(mode: str) -> tuple[str, ...]:
    """The retriever names a mode runs; an unknown mode is an error naming the choices."""
    try:
        return RETRIEVERS[mode]
    except KeyError:
        raise NeurankError(f"unknown mode {mode!r}: use one of {MODES}") from None


def parse_modes(text: str) -> list[str]:
    """'bm25,dense' -> ['bm25', 'dense'], each checked."""
    modes = [m.strip() for m in text.split(",") if m.strip()]
    if not modes:
        raise NeurankError(f"no mode in {text!r}: use one or more of {MODES}")
    for mode in modes:
        retrievers_of(mode)
    return modes
