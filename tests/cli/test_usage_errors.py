"""Usage errors through the installed `neurank` console script: one error line, exit code 2.

typer >= 0.29 raises its vendored click classes, so catching `click.exceptions` alone let
every usage error out as a 30-line traceback with exit code 1; these run the real script.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from neurank.cli.app import app

SCRIPT = Path(sys.executable).parent / "neurank"


def _commands(command, path=()):
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "COLUMNS": "120"})


def assert_usage_error(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 4, result.stderr


def test_every_command_is_found():
    assert {"index", "search", "evaluate", "tune", "serve", "optimize"} <= {c[0] for c in COMMANDS}
    assert ("rec", "train") in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unknown_option_of_every_command(command):
    assert_usage_error(run(*command, "--definitely-not-an-option"), "No such option")


@pytest.mark.parametrize(("args", "expected"), [
    (("serach",), "No such command 'serach'"),
    (("search",), "Missing argument"),
    (("search", "dir", "query", "-k", "abc"), "Invalid value for '-k'"),
    (("search", "dir", "query", "--mdoe", "dense"), "No such option: --mdoe"),
    (("rec", "recommend"), "Missing argument"),
])
def test_usage_mistakes(args, expected):
    assert_usage_error(run(*args), expected)


def test_no_arguments_prints_help_and_exits_2():
    result = run()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Usage" in result.stderr + result.stdout


def test_the_command_line_starts_without_torch():
    """Usage errors and bad input answer in well under a second: importing the CLI must not
    load torch (a classify import at module level once did, 0.7 -> 2.6 s per error)."""
    code = ("import sys, neurank.cli.app; "
            "sys.exit(1 if {'torch', 'sentence_transformers'} & set(sys.modules) else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
