"""Evaluation reports as markdown; every figure carries dataset, split, mode and k."""

from __future__ import annotations

from typing import Any


def metric_columns(reports: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for report in reports:
        columns += [m for m in report["metrics"] if m not in columns]
    return columns


def markdown_table(reports: list[dict[str, Any]]) -> str:
    """One row per report (dataset / split / mode), one column per metric@k."""
    columns = metric_columns(reports)
    lines = ["| dataset | split | mode | queries | " + " | ".join(columns) + " |",
             "|---|---|---|---:|" + "---:|" * len(columns)]
    for r in reports:
        cells = [f"{r['metrics'][c]:.4f}" if c in r["metrics"] else "" for c in columns]
        lines.append(f"| {r['dataset']} | {r['split']} | {r['mode']} | {r['num_queries']} | "
                     + " | ".join(cells) + " |")
    notes = sorted({note for r in reports for note in r.get("notes", [])})
    protocol = reports[0].get("protocol") if reports else None
    if protocol:
        lines += ["", f"Protocol: {protocol}."]
    lines += [f"Note: {n}." for n in notes]
    return "\n".join(lines) + "\n"
