"""The one metadata filter grammar, shared by the library, the CLI, the HTTP API and the TUI.

    field -> value                 the field equals value (or, for a list field, contains it)
    field -> [v1, v2, ...]         the field equals one of them (or a list field holds one)
    field -> {"gte": 3, "lt": 9}   numeric range; operators gt, gte, lt, lte

On the command line a filter is `FIELD=VALUE`, where VALUE is read as JSON when it parses
(`year={"gte":2020}`, `category=["a","b"]`) and as a plain string otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from neurank.data.validate import Invalid, check_string
from neurank.errors import NeurankError

Filters = Mapping[str, Any]
RANGE_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
MAX_FIELD_CHARS = 100
MAX_LISTED_FIELDS = 30
Scalar = str | int | float | bool


class FilterError(NeurankError):
    """A filter that cannot be applied; the message and `field` name the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _check_field(field: object) -> str:
    if not isinstance(field, str) or not field.strip():
        raise FilterError(f"invalid filter field name {field!r}")
    try:
        check_string(field, "a field name", MAX_FIELD_CHARS)
    except Invalid as exc:
        raise FilterError(f"invalid filter field name {field[:MAX_FIELD_CHARS]!r}: {exc}") from None
    if '"' in field:
        raise FilterError(f"invalid filter field name {field!r}: no double quotes")
    return field


def _check_scalar(field: str, value: object, path: str | None = None) -> Scalar:
    """`value` if it is a finite scalar; `path` (e.g. "year.gte") locates it in errors."""
    if isinstance(value, str):
        try:
            return check_string(value, "a value")
        except Invalid as exc:
            raise FilterError(f"filter on {path or field!r}: {exc}", path or field) from None
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"filter on {path or field!r}: NaN and infinite numbers are not "
                              "allowed", path or field)
        return value
    raise FilterError(f"filter on {field!r}: expected a string, number or boolean, got "
                      f"{type(value).__name__}", path or field)


def validate_filters(filters: Filters | None) -> dict[str, Any]:
    """`filters` checked against the grammar; raises FilterError naming the bad field."""
    if not filters:
        return {}
    if not isinstance(filters, Mapping):
        raise FilterError("filters must map field names to conditions, got "
                          f"{type(filters).__name__}")
    checked: dict[str, Any] = {}
    for field, condition in filters.items():
        field = _check_field(field)
        if isinstance(condition, Mapping):
            if not condition:
                raise FilterError(f"filter on {field!r}: give at least one of {sorted(RANGE_OPS)}",
                                  field)
            bounds = {}
            for op, bound in condition.items():
                if op not in RANGE_OPS:
                    raise FilterError(f"filter on {field!r}: unknown operator {op!r} "
                                      f"(use {sorted(RANGE_OPS)})", field)
                if isinstance(bound, bool) or not isinstance(bound, int | float):
                    raise FilterError(f"filter on {field!r}: {op} needs a number, got {bound!r}",
                                      field)
                bounds[op] = _check_scalar(field, bound, f"{field}.{op}")
            checked[field] = bounds
        elif isinstance(condition, list | tuple | set):
            values = [_check_scalar(field, v, f"{field}[{i}]") for i, v in enumerate(condition)]
            if not values:
                raise FilterError(f"filter on {field!r}: empty list of values", field)
            checked[field] = values
        else:
            checked[field] = _check_scalar(field, condition)
    return checked


def parse_filter_arguments(raw: list[str] | None) -> dict[str, Any]:
    """`FIELD=VALUE` strings (CLI, TUI) -> validated filters."""
    filters: dict[str, Any] = {}
    for item in raw or []:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise FilterError(f"--filter expects FIELD=VALUE, got {item!r}")
        stripped = value.strip()
        if stripped[:1] in ("{", "["):
            try:
                filters[field] = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise FilterError(f"--filter {field}: {value!r} is not valid JSON ({exc.msg} at "
                                  f"character {exc.pos})", field) from None
            continue
        try:
            parsed = json.loads(stripped)
        except (json.JSONDecodeError, ValueError):
            parsed = value
        # JSON's NaN/Infinity tokens and huge numbers are refused by validate_filters
        filters[field] = parsed if isinstance(parsed, bool | int | float) else value
    return validate_filters(filters)


def check_known_fields(filters: Filters, known: set[str], absent: str) -> None:
    """A filter on a field outside `known` is an error naming it (after `absent`, e.g. "no
    document has a metadata field") and the fields that exist: a misspelt field must not pass
    for "nothing matches"."""
    unknown = [field for field in filters if field not in known]
    if unknown:
        listed = ", ".join(sorted(known)[:MAX_LISTED_FIELDS]) or "none"
        raise FilterError(f"{absent} {unknown[0]!r} (fields: {listed})", unknown[0])


def filters_to_sql(filters: Filters) -> tuple[str, list[Any]]:
    """(WHERE clause, parameters) over a `metadata` JSON column, for validated filters.

    `json_each` yields the elements of a list and the value itself for a scalar, so one clause
    matches both `category = "a"` and `authors` lists that contain "a".
    """
    clauses, params = [], []
    for field, condition in validate_filters(filters).items():
        path = f'$."{field}"'
        if isinstance(condition, dict):
            tests = " AND ".join(["type IN ('integer', 'real')",
                                  *(f"value {RANGE_OPS[op]} ?" for op in condition)])
            clauses.append(f"EXISTS (SELECT 1 FROM json_each(metadata, ?) WHERE {tests})")
            params += [path, *condition.values()]
        else:
            values = condition if isinstance(condition, list) else [condition]
            marks = ",".join("?" * len(values))
            clauses.append(f"EXISTS (SELECT 1 FROM json_each(metadata, ?) WHERE value IN ({marks}))")
            params += [path, *values]
    return " AND ".join(clauses) or "1", params


def matches_filters(record: Mapping[str, Any], filters: Filters) -> bool:
    """Whether a metadata record passes validated `filters`, in memory, with the semantics of
    `filters_to_sql` (a list field matches when one element does; ranges need numbers)."""
    for field, condition in filters.items():
        value = record.get(field)
        elements = value if isinstance(value, list) else [value]
        if isinstance(condition, dict):
            numbers = [v for v in elements if isinstance(v, int | float) and not isinstance(v, bool)]
            if not any(all(_compare(v, op, bound) for op, bound in condition.items())
                       for v in numbers):
                return False
        else:
            allowed = condition if isinstance(condition, list) else [condition]
            if not any(v in allowed for v in elements if v is not None):
                return False
    return True


def _compare(value: float, op: str, bound: float) -> bool:
    return {"gt": value > bound, "gte": value >= bound, "lt": value < bound,
            "lte": value <= bound}[op]
