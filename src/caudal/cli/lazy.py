"""The top-level `caudal` group, whose capability commands are built when first used.

Building a capability's commands imports its CLI module and all that module needs (the HTTP
client of `caudal demo`, the lake's query engine, Base A's crypto, ...): ~0.2 s that
`caudal worker` or `caudal token` would pay for nothing. So a capability declares the names of
the commands it adds (`Capability.commands`) and the group looks a name up in that list, and
builds the owner's `cli()`, only when the command is run or listed with its help
(`caudal --help`). The listing order and every help text are those of the eager build
(`tests/unit/test_cli_lazy.py` compares them).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import typer
from typer._click import Command  # typer >= 0.29 vendors click; its commands are these
from typer.core import TyperGroup

if TYPE_CHECKING:
    from caudal.platform.capability import Capability


class CapabilityCommands(TyperGroup):
    """A Typer group class (`typer.Typer(cls=...)`) whose capability commands are built on
    demand; a subclass says where the capabilities come from (the composition root)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _OnDemand(self.commands, self)

    def capabilities(self) -> Sequence[Capability[Any]]:
        raise NotImplementedError

    def build(self, name: str, owner: Capability[Any]) -> Command:
        """The command `name` as an eager `add_typer(owner.cli())` would have built it."""
        cli = owner.cli()
        assert cli is not None, f"{owner.name} declares commands but has no cli()"
        holder = typer.Typer(rich_markup_mode=self.rich_markup_mode)
        holder.add_typer(cli)
        built = typer.main.get_group(holder).commands.get(name)
        assert built is not None, f"{owner.name} declares `{name}`, its cli() has no such command"
        return built


class _OnDemand(MutableMapping[str, Command]):
    """The group's own commands, then the capabilities' ones in declaration order; one of these
    is built on its first lookup (click reads a group's commands through this mapping only)."""

    def __init__(self, own: MutableMapping[str, Command], group: CapabilityCommands) -> None:
        self._own = own
        self._group = group
        self._built: dict[str, Command] = {}
        self._owners: dict[str, Capability[Any]] | None = None

    def owners(self) -> dict[str, Capability[Any]]:
        if self._owners is None:
            self._owners = {
                name: capability
                for capability in self._group.capabilities()
                for name in capability.commands
                if name not in self._own
            }
        return self._owners

    def __getitem__(self, name: str) -> Command:
        if name in self._own:
            return self._own[name]
        if name not in self._built:
            owner = self.owners().get(name)
            if owner is None:
                raise KeyError(name)
            self._built[name] = self._group.build(name, owner)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._own, *self.owners()])

    def __len__(self) -> int:
        return len(self._own) + len(self.owners())

    def __setitem__(self, name: str, command: Command) -> None:
        self._own[name] = command

    def __delitem__(self, name: str) -> None:
        if name in self._own:
            del self._own[name]
        else:
            del self.owners()[name]
            self._built.pop(name, None)
