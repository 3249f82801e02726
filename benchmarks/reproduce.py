"""Re-run the pinned benchmarks and check every pinned figure against what they wrote.

    python benchmarks/reproduce.py [--only finetune,two_tower] [--check-only]   (make reproduce)

Each `benchmarks/expected/NAME.yaml` names its `command` (or `commands`) and, under `reproduce`, where each
pinned section's figures sit in the JSON the command writes:

    reproduce:
      expected/bm25: benchmarks/results/scifact/retrieval_test.json:rows/system=neurank bm25/metrics

The left side is a path into the YAML (its leaves are the pinned numbers), the right side a
results file and a path into its JSON: `/` separates keys, `field=value` picks the row of a list
whose `field` equals `value` (`field^=value`: starts with it), a number indexes a list. Every
leaf under the pinned section is looked up under that JSON path (or put where `{}` stands in
it; with a list of JSON paths, the first that holds the leaf) and must be within the file's
`tolerance` (or the entry's own, `{path: ..., tolerance: ...}`). Runs take hours in all on a
2-core CPU (fine-tuning dominates); `--check-only` only compares the results already on disk.
Exit status 1 when any figure is off or missing.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = ROOT / "benchmarks" / "expected"


@dataclass
class Check:
    pin_file: str
    pin: str
    expected: float
    got: float | None
    tolerance: float
    where: str

    @property
    def ok(self) -> bool:
        return self.got is not None and abs(self.got - self.expected) <= self.tolerance


def locate(data: Any, path: str) -> Any:
    """The value at `path` (see the module docstring) in parsed JSON; KeyError when absent."""
    node = data
    for segment in filter(None, path.split("/")):
        if isinstance(node, list):
            if "=" in segment:
                field, value = segment.split("=", 1)
                prefix = field.endswith("^")  # `field^=start`: the row whose field starts so
                field = field.rstrip("^")
                rows = [r for r in node if isinstance(r, dict) and (
                    str(r.get(field)).startswith(value) if prefix else str(r.get(field)) == value)]
                if len(rows) != 1:
                    raise KeyError(f"{len(rows)} rows with {field}={value!r}")
                node = rows[0]
            elif segment.isdigit() and int(segment) < len(node):
                node = node[int(segment)]
            else:
                raise KeyError(segment)
        elif isinstance(node, dict) and segment in node:
            node = node[segment]
        else:
            raise KeyError(segment)
    return node


def pinned_leaves(section: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, float]]:
    """(relative path, number) for every numeric leaf of a pinned YAML section."""
    if isinstance(section, dict):
        for key, value in section.items():
            yield from pinned_leaves(value, (*prefix, str(key)))
    elif isinstance(section, int | float) and not isinstance(section, bool):
        yield "/".join(prefix), float(section)


def checks_of(pin_path: Path, root: Path = ROOT) -> list[Check]:
    """Every pinned figure of one YAML file against its results files."""
    pins = yaml.safe_load(pin_path.read_text(encoding="utf-8"))
    loaded: dict[Path, Any] = {}
    out = []
    for section_path, target in (pins.get("reproduce") or {}).items():
        tolerance = float(pins.get("tolerance", 0.0005))
        if isinstance(target, dict):
            tolerance = float(target.get("tolerance", tolerance))
            target = target["path"]
        sources = [target] if isinstance(target, str) else list(target)
        section = locate(pins, section_path)
        for leaf, expected in pinned_leaves(section):
            got, where = None, sources[0]
            for source in sources:
                file, _, json_path = source.partition(":")
                results = root / file
                if not results.exists():
                    where = f"{file} (missing)"
                    continue
                if results not in loaded:
                    loaded[results] = json.loads(results.read_text(encoding="utf-8"))
                try:
                    value = locate(loaded[results], json_path.replace("{}", leaf)
                                   if "{}" in json_path else f"{json_path}/{leaf}")
                except KeyError:
                    continue
                got, where = float(value), source
                break
            out.append(Check(pin_path.name, f"{section_path}/{leaf}".rstrip("/"), expected, got,
                             tolerance, where))
    return out


def commands_of(pins: dict[str, Any]) -> list[str]:
    """The commands that write a pin file's results (`commands`, or a single `command`)."""
    return list(pins["commands"]) if "commands" in pins else [pins["command"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated pin files (no .yaml)")
    parser.add_argument("--check-only", action="store_true",
                        help="compare the results already on disk, run nothing")
    args = parser.parse_args()
    console = Console(width=160)
    names = [n for n in args.only.split(",") if n]
    files = [EXPECTED / f"{n}.yaml" for n in names] or sorted(EXPECTED.glob("*.yaml"))
    checks: list[Check] = []
    for pin_path in files:
        pins = yaml.safe_load(pin_path.read_text(encoding="utf-8"))
        if not args.check_only:
            for command in commands_of(pins):
                console.print(f"[bold]{pin_path.stem}[/]: {command}")
                argv = shlex.split(command)
                if argv[0] == "python":
                    argv[0] = sys.executable
                subprocess.run(argv, cwd=ROOT, check=True)
        checks += checks_of(pin_path)
    table = Table(title="Pinned figures (benchmarks/expected) against the benchmarks' results",
                  title_justify="left")
    for column in ("file", "pin", "expected", "got", "tolerance", "", "from"):
        table.add_column(column, justify="right" if column in ("expected", "got") else "left",
                         max_width=60 if column == "from" else None, no_wrap=column == "from",
                         overflow="ellipsis")
    for c in checks:
        table.add_row(c.pin_file, c.pin, f"{c.expected:.4f}",
                      "missing" if c.got is None else f"{c.got:.4f}", f"{c.tolerance:g}",
                      "[green]ok[/]" if c.ok else "[red]OFF[/]", c.where)
    console.print(table)
    failed = [c for c in checks if not c.ok]
    console.print(f"{len(checks) - len(failed)} of {len(checks)} pinned figures reproduced")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
