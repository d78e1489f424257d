"""The `caudal` command line builds a capability's commands only when used, and shows exactly
what the eager build (every capability's `cli()` added up front) showed: same commands, same
order, same help text, at every level."""

from __future__ import annotations

from typing import Any

import typer
from typer._click import Command
from typer.core import TyperGroup
from typer.testing import CliRunner

from caudal import wiring
from caudal.cli import main

RUNNER = CliRunner()
WIDE = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1"}


def _eager() -> typer.Typer:
    """The command line as it was built before: the same top-level commands and callback, then
    `add_typer(capability.cli())` for every capability."""
    eager = typer.Typer(
        name="caudal", help=main.app.info.help, no_args_is_help=True, pretty_exceptions_enable=False
    )
    eager.registered_commands = list(main.app.registered_commands)
    eager.registered_callback = main.app.registered_callback
    for capability in wiring.capabilities():
        commands = capability.cli()
        if commands is not None:
            eager.add_typer(commands)
    return eager


def _shape(command: Command) -> dict[str, Any]:
    """All that a command's help is made of, and its sub-commands' shapes, in order."""
    return {
        "name": command.name,
        "help": command.help,
        "short_help": command.short_help,
        "epilog": command.epilog,
        "hidden": command.hidden,
        "no_args_is_help": command.no_args_is_help,
        "params": [
            (p.name, p.opts, p.secondary_opts, getattr(p, "help", None), repr(p.default))
            for p in command.params
        ],
        "commands": {
            name: _shape(sub)
            for name, sub in (command.commands.items() if isinstance(command, TyperGroup) else ())
        },
    }


def _help(app: typer.Typer, *path: str) -> str:
    result = RUNNER.invoke(app, [*path, "--help"], env=WIDE, prog_name="caudal")
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_and_its_help_are_those_of_the_eager_build() -> None:
    eager, lazy = typer.main.get_group(_eager()), typer.main.get_group(main.app)
    assert _shape(lazy) == _shape(eager)
    assert len(str(_shape(lazy))) > 10_000  # the whole tree, not only the top level


def test_caudal_help_and_a_capability_commands_help_read_as_before() -> None:
    assert _help(main.app) == _help(_eager())
    assert "lake" in _help(main.app) and "The Parquet lake" in _help(main.app)
    assert _help(main.app, "lake", "sql") == _help(_eager(), "lake", "sql")


def test_the_top_level_lists_the_capabilities_commands_after_its_own_in_wiring_order() -> None:
    lazy = typer.main.get_group(main.app)
    assert list(lazy.commands) == list(typer.main.get_group(_eager()).commands)
    declared = [name for c in wiring.capabilities() for name in c.commands]
    assert list(lazy.commands)[-len(declared) :] == declared


def test_a_typo_still_gets_a_suggestion_among_the_capabilities_commands() -> None:
    result = RUNNER.invoke(main.app, ["fakestor"], env=WIDE, prog_name="caudal")
    assert result.exit_code == 2
    assert "Did you mean 'fakestore'?" in result.output
