"""Checks every reader and the HTTP API apply to what they store: one rule set, one place.

Stored text must survive SQLite and JSON round trips, and metadata must stay queryable by
SQLite's JSON functions: no NUL bytes or lone surrogates, finite numbers only (a stored NaN
made every later filtered search fail with "malformed JSON"), nesting and sizes bounded.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_ID_CHARS = 512
MAX_TEXT_CHARS = 1_000_000
MAX_DEPTH = 32


class Invalid(ValueError):
    """A value that must not be stored; `where` is the path inside it ('a.b[2]')."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def _refuse_constant(name: str) -> float:
    raise Invalid(f"{name} is not allowed (numbers must be finite)")


def loads(raw: str | bytes) -> Any:
    """json.loads that refuses NaN/Infinity and reports over-deep or over-long input as Invalid
    (json.JSONDecodeError still means malformed JSON)."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise Invalid("nested too deeply") from None
    except (json.JSONDecodeError, Invalid):
        raise
    except ValueError as exc:  # e.g. Python's limit on the digits of an integer
        raise Invalid(str(exc).split(";")[0]) from None


def check_string(value: str, what: str = "text", limit: int = MAX_TEXT_CHARS) -> str:
    if len(value) > limit:
        raise Invalid(f"{what} is longer than {limit:,} characters")
    if "\x00" in value:
        raise Invalid(f"{what} holds a NUL byte")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"{what} holds a lone surrogate (not valid Unicode)") from None
    return value


def check_id(value: Any, what: str = "id") -> str:
    """A document/query/label id: a non-empty string or integer, one printable line."""
    if value is None:
        raise Invalid(f"missing or empty {what}")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f"{what} must be a string or an integer, not {type(value).__name__}")
    text = check_string(str(value).strip(), what, MAX_ID_CHARS)
    if not text:
        raise Invalid(f"missing or empty {what}")
    if not text.isprintable():
        raise Invalid(f"{what} must be one line of printable characters")
    return text


def check_metadata(value: Any, where: str = "", depth: int = 0) -> Any:
    """`value` if it is JSON that SQLite can query: finite numbers, clean strings, bounded."""
    if depth > MAX_DEPTH:
        raise Invalid(f"nested deeper than {MAX_DEPTH} levels", where)
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid("NaN and infinite numbers are not allowed", where)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise Invalid("integers must fit in 64 bits", where)
    if isinstance(value, str):
        try:
            check_string(value, "a string")
        except Invalid as exc:
            raise Invalid(str(exc), where) from None
    elif isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise Invalid("keys must be strings", where)
            try:
                check_string(key, "a key", MAX_ID_CHARS)
            except Invalid as exc:
                raise Invalid(str(exc), where) from None
            check_metadata(inner, f"{where}.{key}" if where else key, depth + 1)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            check_metadata(inner, f"{where}[{i}]", depth + 1)
    elif value is not None and not isinstance(value, bool | int | float):
        raise Invalid(f"a {type(value).__name__} cannot be stored as metadata", where)
    return value
