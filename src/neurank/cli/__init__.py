"""The `neurank` command line (typer + rich)."""

from __future__ import annotations

import sys

from neurank.cli.app import app
from neurank.errors import NeurankError


def main() -> None:
    """Console-script entry point: neurank errors become one red line and exit code 2."""
    try:
        app(standalone_mode=False)
    except NeurankError as exc:
        from neurank.cli.app import console_err

        console_err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # usage errors arrive here under standalone_mode=False
        exit_, abort, click_exception = _usage_exceptions()
        if isinstance(exc, exit_):
            sys.exit(exc.exit_code)
        if isinstance(exc, abort):
            sys.exit(130)
        if isinstance(exc, click_exception):
            exc.show()  # the usage line and one error line; usage errors exit with 2
            sys.exit(exc.exit_code)
        raise


def _usage_exceptions() -> tuple[type, type, type]:
    """typer >= 0.29 raises its own vendored click classes; older ones raise click's."""
    try:
        from typer import Abort, Exit
        from typer._click.exceptions import ClickException
    except ImportError:
        from click.exceptions import Abort, ClickException, Exit
    return Exit, Abort, ClickException


__all__ = ["app", "main"]
