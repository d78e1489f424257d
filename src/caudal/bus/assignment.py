"""How many partitions each live member of a consumer group holds, and the step to get there.

Every member computes its own target from the same ordered list of live members (oldest first,
ties broken by member id), so all members agree without talking to each other: with P partitions
and N members, the first P mod N members hold ceil(P/N), the others floor(P/N). The targets add
up to P, so whenever one member is below its target, some partition is free or held by a member
above its target; that member releases its surplus at its next heartbeat and the short one
claims it at its own. Pure arithmetic: no I/O here (the SQL is in queries.sql).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


def target(members: Sequence[str], me: str, partitions: int) -> int:
    """How many of `partitions` member `me` should hold; `members` are the live ones in order."""
    if me not in members:
        raise ValueError(f"{me} is not a live member")
    count = len(members)
    return partitions // count + (1 if members.index(me) < partitions % count else 0)


@dataclass(frozen=True, slots=True)
class Step:
    """One rebalancing step of one member: partitions to give back, how many free ones to take."""

    release: tuple[int, ...] = ()
    claim: int = 0


def step(owned: Collection[int], share: int) -> Step:
    """Give back the highest surplus partitions, or ask for the missing ones (never both)."""
    held = sorted(owned)
    if len(held) > share:
        return Step(release=tuple(held[share:]))
    return Step(claim=share - len(held))
