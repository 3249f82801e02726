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
    except Exception as exc:  # click's usage errors arrive here under standalone_mode=False
        from click.exceptions import ClickException, Exit

        if isinstance(exc, Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


__all__ = ["app", "main"]
