"""How many of a company's scheduled invoices the once-a-minute job releases now: the automatic queue's pacing.

The rule, and why
-----------------

Every scheduled invoice has a deadline (shipped time plus the company's ``autoSyncWindowMinutes``) by which it must
be released. The job runs once per *tick* (a minute). Ticks are the tick-long slots of a grid anchored at the Unix
epoch (so minute ticks start on the minute); ``now`` and every deadline are placed on that grid, and a deadline
counts for the tick it falls in. For the invoices with the earliest deadlines, ``C(d)`` of them are due by the tick
of deadline ``d``, and ``T(d)`` ticks are left for them (this one included; 1 for a deadline already passed).

1. The rate is the lowest whole number per tick that meets every deadline, earliest deadline first:
   ``r = max over d of ceil(C(d) / T(d))``.
2. This tick releases only what cannot wait: ``max(0, max over d of C(d) - r * (T(d) - 1))``, that is what would
   not fit into the ticks after this one at ``r`` per tick. Overdue invoices (``T = 1``) are all released now.
3. With ``cap`` (the invoices the realm's request budget allows per tick), never more than ``cap``; when even ``r``
   is above it the deadlines cannot all be met, so the tick releases ``cap`` to catch up as fast as allowed.

Why as late as the even rate allows, not as early: the planner keeps no memory (it sees only the invoices still
scheduled), and a memoryless rule that releases early cannot hold a steady rate. Released early at
``ceil(n / T)``, 100 invoices over 61 ticks go 2 a tick for 39 ticks and then 1 a tick (the peak 1.22 times the
mean), because each tick re-plans the rest over all the ticks left. Planned backwards from the deadlines at a
whole rate, the rest of the plan is the same plan one tick later, so the rate holds: 600 invoices shipped at once
with a 60-minute window go 10 a minute for 60 minutes, 100 go 2 a minute for the last 50. Each invoice still
leaves by its deadline, which is the promise the window makes ("gradually processed over the course of an hour").

Why a grid and counts rather than "r per call": the result depends on the invoices left and on which tick ``now``
falls in, not on how many times the job ran. A run a few seconds late is still its tick's run (a scheduler
firing on the minute, as ``cron(* * * * ? *)`` does, late by less than a tick, never lands in the next tick; one
firing at a phase just before the minute could, so schedule it on the minute), and a second run in the same tick
finds this tick's share already gone and releases nothing, as long as the rate is below the ticks left. Near the
end of a large burst (rate at or above the ticks left) the memoryless rule cannot tell a second run from a first
one; pass ``released_this_tick`` (how many of the company's invoices this tick already released) and any number of
runs in a tick release exactly what one run would.

An invoice whose deadline falls ``s`` seconds into its tick is released by that tick's run: before its deadline
when the run is less than ``s`` seconds late, otherwise at most the run's lateness after it. The consumer's
latency comes on top (the window plus two minutes is the promise to the user).

Invoices held while the accounting system was disconnected are planned by the deadlines they are given: kept,
they are overdue on reconnection and go at once (``cap`` a tick); given the reconnection time plus the window,
they are paced over the window again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import groupby

TICK = timedelta(minutes=1)  # the scheduled job's period
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def release_count(
    deadlines: Sequence[datetime],
    now: datetime,
    tick: timedelta = TICK,
    *,
    cap: int | None = None,
    released_this_tick: int = 0,
) -> int:
    """How many of one company's scheduled invoices to release now, earliest deadline first (rule in the module).

    ``deadlines``: the deadlines of the company's invoices still scheduled, any order. ``cap``: at most this many
    invoices released in this tick (for QuickBooks Online, what the realm's requests per minute leave for
    invoices); ``None`` for no limit (the Desktop outbox). ``released_this_tick``: how many the company's earlier
    runs in this same tick released, so that a repeated run releases only the rest of this tick's share.
    """
    if tick <= timedelta(0):
        raise ValueError(f"tick must be a positive duration (got {tick}); the scheduled job runs every minute")
    if cap is not None and cap < 0:
        raise ValueError(f"cap must be 0 or more invoices per tick (got {cap}); None means no limit")
    if released_this_tick < 0:
        raise ValueError(f"released_this_tick must be 0 or more (got {released_this_tick})")
    current = _tick_of(now, tick, "now")
    # Invoices an earlier run of this tick released had the earliest deadlines (earliest first), so they count
    # among the invoices due by every deadline: the plan is the one the tick's first run made.
    due = released_this_tick
    rate = 0
    ticks_and_counts: list[tuple[int, int]] = []
    ticks_left_each = sorted(max(1, _tick_of(d, tick, "deadline") - current + 1) for d in deadlines)
    for ticks_left, group in groupby(ticks_left_each):
        due += sum(1 for _ in group)
        ticks_and_counts.append((ticks_left, due))
        rate = max(rate, -(-due // ticks_left))
    if not ticks_and_counts:
        return 0
    if cap is not None and rate > cap:
        this_tick = min(due, cap)  # the deadlines cannot all be met: catch up at the most the budget allows
    else:
        this_tick = max(count - rate * (ticks_left - 1) for ticks_left, count in ticks_and_counts)
    return max(0, this_tick - released_this_tick)  # nothing when every deadline can wait for the ticks to come


def _tick_of(moment: datetime, tick: timedelta, name: str) -> int:
    """The index of the grid tick ``moment`` falls in (tick-long slots counted from the Unix epoch)."""
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC, as the clock gives it), not naive: {moment}")
    return (moment - _EPOCH) // tick
