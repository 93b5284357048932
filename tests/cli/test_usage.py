"""Mistakes on the command line (twap/cli.py), in-process: the command's usage, then one
`<command>: error: …` line with a suggestion, exit status 2, and nothing started."""

import subprocess
from pathlib import Path

import click
import pytest

from twap.cli import cli, main, usage_error
from twap.settings import PROJECT_DIR


def usage(argv: list[str], capsys: pytest.CaptureFixture) -> list[str]:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()


def test_a_mistyped_command_is_named_with_the_closest_one(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lines = usage(["--home", str(tmp_path), "pubish"], capsys)

    assert lines == [
        "Usage: twap [OPTIONS] COMMAND [ARGS]...",
        "twap: error: No such command 'pubish'. Did you mean 'publish'?",
    ]
    assert not any(tmp_path.iterdir())
    (_, line) = usage(["rnu"], capsys)  # letters swapped
    assert line == "twap: error: No such command 'rnu'. Did you mean 'run'?"


def test_a_mistyped_flag_is_named_with_the_closest_one_of_its_command(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lines = usage(["--home", str(tmp_path), "load", "--wiat", "5"], capsys)

    assert lines == [
        "Usage: twap load [OPTIONS]",
        "twap load: error: No such option '--wiat'. Did you mean '--wait'?",
    ]
    (_, line) = usage(["build", "--full-test"], capsys)
    assert line == (
        "twap build: error: No such option '--full-test'. "
        "(Did you mean one of: '--full-refresh', '--full-tests'?)"
    )


def test_a_bad_value_names_the_flag_and_the_choices(capsys: pytest.CaptureFixture) -> None:
    (_, line) = usage(["run", "--warehouse", "oracle"], capsys)
    assert line == (
        "twap run: error: Invalid value for '--warehouse': 'oracle' is not one of "
        "'postgres', 'spark'."
    )
    (_, line) = usage(["serve", "--port", "eighty"], capsys)
    assert line.startswith("twap serve: error: Invalid value for '--port': 'eighty'")


def test_a_setting_no_command_can_run_with_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("TWAP_LOG_FORMAT", "xml")
    lines = usage(["--home", str(tmp_path / "home"), "status"], capsys)

    assert lines[-1] == (
        "twap status: error: unknown log format 'xml' (TWAP_LOG_FORMAT / --log-format): "
        "use text or json"
    )
    assert not (tmp_path / "home").exists()


def test_an_error_without_a_command_still_reads_as_twaps() -> None:
    assert usage_error(click.ClickException("no terminal")) == "twap: error: no terminal"


def test_logging_flags_are_accepted_before_and_after_the_command() -> None:
    for name, command in cli.commands.items():
        flags = {flag for param in command.params for flag in param.opts}
        assert {"--debug", "-v", "--verbose", "--log-format"} <= flags, name
    assert {"--home", "--debug", "-v", "--log-format"} <= {
        flag for param in cli.params for flag in param.opts
    }


def test_make_demo_takes_the_port_and_twap_demo_has_it() -> None:
    """`make demo PORT=8002` passes it on to `twap demo --port` (default 8001, as `twap serve`)."""
    assert "--port" in {flag for param in cli.commands["demo"].params for flag in param.opts}
    make = ["make", "--dry-run", "--no-print-directory", "-C", str(PROJECT_DIR), "demo"]
    moved = subprocess.run([*make, "PORT=8002"], capture_output=True, text=True, check=True)
    assert moved.stdout.splitlines()[-1].endswith("twap demo --port 8002")
    default = subprocess.run(make, capture_output=True, text=True, check=True)
    assert default.stdout.splitlines()[-1].endswith("twap demo --port 8001")
