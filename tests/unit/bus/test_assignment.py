"""The share arithmetic of consumer-group rebalancing (bus/assignment.py), and a simulation of
members joining, leaving and dying that must always end with every partition held, shares
differing by at most one."""

from __future__ import annotations

import random

import pytest

from caudal.bus.assignment import Step, step, target


@pytest.mark.parametrize("partitions", [1, 4, 7, 16, 64])
@pytest.mark.parametrize("count", [1, 2, 3, 5, 16, 20])
def test_targets_add_up_to_the_partitions_and_differ_by_at_most_one(
    partitions: int, count: int
) -> None:
    members = [f"m{i}" for i in range(count)]
    shares = [target(members, m, partitions) for m in members]
    assert sum(shares) == partitions
    assert max(shares) - min(shares) <= 1
    assert shares == sorted(shares, reverse=True)  # the oldest members take the remainder


def test_sixteen_partitions_among_three_members() -> None:
    members = ["oldest", "middle", "newest"]
    assert [target(members, m, 16) for m in members] == [6, 5, 5]


def test_a_member_not_in_the_list_has_no_share() -> None:
    with pytest.raises(ValueError, match="not a live member"):
        target(["a"], "b", 16)


def test_a_step_releases_the_highest_surplus_or_claims_the_missing() -> None:
    assert step({0, 1, 2, 3, 9, 12}, 4) == Step(release=(9, 12))
    assert step({5}, 4) == Step(claim=3)
    assert step({1, 2}, 2) == Step()


def _simulate(seed: int) -> None:
    """Members join, leave (release everything) or die (leases expire later) at random; between
    changes each live member takes one step per round, as at each heartbeat. Within three rounds
    of the last change every partition must be held by a live member with its exact share."""
    rng = random.Random(seed)
    partitions = rng.choice([4, 16, 32])
    owner: dict[int, str | None] = dict.fromkeys(range(partitions))
    live: list[str] = []
    serial = 0

    def round_() -> None:
        for me in rng.sample(live, len(live)):  # any order within a round
            held = {p for p, o in owner.items() if o == me}
            move = step(held, target(live, me, partitions))
            for p in move.release:
                owner[p] = None
            free = sorted(p for p, o in owner.items() if o is None)
            for p in free[: move.claim]:
                owner[p] = me

    for _ in range(30):
        change = rng.random()
        if not live or (change < 0.5 and len(live) < 8):
            serial += 1
            live.append(f"m{serial:03d}")
        elif change < 0.75:
            gone = live.pop(rng.randrange(len(live)))
            owner.update({p: None for p, o in owner.items() if o == gone})  # SIGTERM
        else:
            dead = live.pop(rng.randrange(len(live)))  # kill -9: its leases expire
            owner.update({p: None for p, o in owner.items() if o == dead})
        for _ in range(rng.randrange(0, 3)):
            round_()  # the next change may come before convergence
    if not live:
        live.append("last")
    for _ in range(3):
        round_()
    held = {m: sum(1 for o in owner.values() if o == m) for m in live}
    assert all(o in live for o in owner.values()), f"seed {seed}: {owner}"
    assert held == {m: target(live, m, partitions) for m in live}, f"seed {seed}"


@pytest.mark.parametrize("seed", range(200))
def test_any_churn_converges_to_every_partition_held_fairly(seed: int) -> None:
    _simulate(seed)
