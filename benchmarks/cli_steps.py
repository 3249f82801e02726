"""Shared by the benchmarks that drive the product through its command line: run `neurank`,
skip a step whose output exists (resumable runs), read an `evaluate --json` report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console

console = Console()


def neurank(*args: object, capture: bool = False) -> str:
    """Run `neurank ARGS` (echoed); its stdout when `capture`."""
    command = [sys.executable, "-m", "neurank.cli", *map(str, args)]
    console.print("$ neurank " + " ".join(map(str, args)))
    done = subprocess.run(command, check=True, text=True,
                          stdout=subprocess.PIPE if capture else None)
    return done.stdout or ""


def step(output: Path, *args: object) -> None:
    """`neurank ARGS` unless `output` exists already."""
    if not output.exists():
        neurank(*args)


def ndcg_by_mode(report: Path) -> dict[str, float]:
    """Mode -> NDCG@10 of an `evaluate --json` report (one mode or several)."""
    data = json.loads(report.read_text())
    reports = data if isinstance(data, list) else data.get("reports", [data])
    return {r["mode"]: r["metrics"]["ndcg@10"] for r in reports}
