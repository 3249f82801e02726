"""Root typer app; command groups register themselves here."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="neurank",
    help="Build, evaluate and serve neural search and recommendation models on your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
console_err = Console(stderr=True)

# imported for their side effect: each module adds its commands to `app`
from neurank.cli import rec_cmds, search_cmds  # noqa: E402,F401
