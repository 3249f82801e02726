"""Root typer app; command groups register themselves here."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(
    name="neurank",
    help="Build, evaluate and serve neural search and recommendation models on your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# piped output gets room for metric tables instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 140)
console_err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

# imported for their side effect: each module adds its commands to `app`
from neurank.cli import (  # noqa: E402,F401
    classify_cmds,
    finetune_cmds,
    ranker_cmds,
    rec_cmds,
    runs_cmds,
    search_cmds,
    serve_cmds,
    two_tower_cmds,
)
