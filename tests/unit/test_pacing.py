"""The automatic invoice queue's pacing (ledgersync.domain.sync.pacing) on a simulated clock.

A simulated company ships invoices, the scheduled job runs once a minute (a few seconds late, sometimes twice in
a minute) and releases what ``release_count`` says, earliest deadline first. The properties are Goflow's rule 1:
every invoice leaves by its deadline, a burst of 60 or more is spread evenly, a second run in a minute does not
add a second share, the realm's budget is never exceeded.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ledgersync.domain.sync.pacing import release_count

MINUTE = timedelta(minutes=1)
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # on the minute grid
MAX_LATE = 20  # seconds a run may be late
# Property-style: each test runs on cases drawn from a seeded generator (the seed is the case's id, so a failure
# replays exactly); hypothesis is not among the dev dependencies
SEEDS = pytest.mark.parametrize("seed", range(40))


@dataclass(frozen=True)
class Shipment:
    at: datetime
    count: int


@dataclass(frozen=True)
class Released:
    at: datetime
    deadline: datetime

    @property
    def minute(self) -> int:
        return (self.at - START) // MINUTE


@dataclass(frozen=True)
class Runs:
    """When the scheduled job runs: once per minute, ``late[m]`` seconds late, and again ``again[m]`` s later."""

    late: tuple[int, ...]
    again: tuple[int | None, ...]

    def times(self) -> Iterable[datetime]:
        for minute, (late, again) in enumerate(zip(self.late, self.again, strict=True)):
            first = START + minute * MINUTE + timedelta(seconds=late)
            yield first
            if again is not None:
                yield first + timedelta(seconds=again)

    def without_repeats(self) -> Runs:
        return Runs(self.late, (None,) * len(self.again))


def on_time(minutes: int) -> Runs:
    return Runs((0,) * minutes, (None,) * minutes)


def simulate(
    shipments: Iterable[Shipment],
    window: timedelta,
    runs: Runs,
    *,
    cap: int | None = None,
    count_repeats: bool = False,
) -> list[Released]:
    """Run the job at ``runs``; every invoice shipped before a run is scheduled; the released, in order."""
    pending = sorted(shipments, key=lambda shipment: shipment.at)
    scheduled: list[datetime] = []
    released: list[Released] = []
    released_per_minute: Counter[int] = Counter()
    for now in runs.times():
        while pending and pending[0].at <= now:
            shipment = pending.pop(0)
            scheduled += [shipment.at + window] * shipment.count
        scheduled.sort()
        minute = (now - START) // MINUTE
        already = released_per_minute[minute] if count_repeats else 0
        count = release_count(scheduled, now, cap=cap, released_this_tick=already)
        assert 0 <= count <= len(scheduled)
        released += [Released(now, deadline) for deadline in scheduled[:count]]
        released_per_minute[minute] += count
        del scheduled[:count]
    assert not pending, "the simulation ended before every shipment"
    assert not scheduled, f"{len(scheduled)} invoices were never released"
    return released


def per_minute(released: list[Released]) -> list[int]:
    """Invoices released in each minute from the first release to the last (zeros included)."""
    counts = Counter(item.minute for item in released)
    return [counts[minute] for minute in range(min(counts), max(counts) + 1)]


def random_runs(rng: random.Random, minutes: int) -> Runs:
    """Each minute's run up to MAX_LATE seconds late; a fifth of the minutes run a second time within the minute."""
    late = tuple(rng.randint(0, MAX_LATE) for _ in range(minutes))
    again = tuple(rng.randint(1, 60 - MAX_LATE - 1) if rng.random() < 0.2 else None for _ in range(minutes))
    return Runs(late, again)


def random_shipments(rng: random.Random, within_seconds: int, most: int, largest: int) -> list[Shipment]:
    """1 to ``most`` shipments at any second of the first ``within_seconds``, each of 1 to ``largest`` invoices."""
    return [
        Shipment(START + timedelta(seconds=rng.randint(0, within_seconds)), rng.randint(1, largest))
        for _ in range(rng.randint(1, most))
    ]


def assert_released_by_deadlines(released: list[Released]) -> None:
    late = [item for item in released if item.at > item.deadline + timedelta(seconds=MAX_LATE)]
    assert not late, f"{len(late)} released after their deadline (plus the run's lateness), first {late[0]}"


def first_run_after(runs: Runs, shipped: datetime) -> int:
    """The minute of the first run that finds an invoice shipped at ``shipped``."""
    return next((now - START) // MINUTE for now in runs.times() if now >= shipped)


def ticks_for(shipped: datetime, window: timedelta, runs: Runs) -> int:
    """The minutes an invoice shipped at ``shipped`` can leave in: from the first run after it to its deadline's."""
    return (shipped + window - START) // MINUTE - first_run_after(runs, shipped) + 1


def random_burst(seed: int, min_size: int = 60, max_size: int = 1500) -> tuple[Shipment, int, Runs]:
    """Invoices shipped at once during minute 0 (before or after its run), a window of 1 to 90 minutes, the runs."""
    rng = random.Random(seed)
    window = rng.randint(1, 90)
    shipped = START + timedelta(seconds=rng.randint(0, 59))
    return Shipment(shipped, rng.randint(min_size, max_size)), window, random_runs(rng, window + 2)


# ---------------------------------------------------------------------------------------------- deadlines


@SEEDS
@pytest.mark.parametrize("count_repeats", [False, True])
def test_every_invoice_is_released_by_its_deadline_when_shipments_are_staggered(seed: int, count_repeats: bool) -> None:
    # Given shipments at any second of two windows, runs late and repeated
    rng = random.Random(seed)
    window = rng.randint(1, 90)
    shipments = random_shipments(rng, 2 * window * 60, most=8, largest=200)
    runs = random_runs(rng, 3 * window + 2)

    # When the job releases what the planner says
    released = simulate(shipments, timedelta(minutes=window), runs, count_repeats=count_repeats)

    # Then every one left by its deadline, give or take the lateness of its run
    assert len(released) == sum(shipment.count for shipment in shipments)
    assert_released_by_deadlines(released)


def test_overdue_invoices_are_all_released_at_once() -> None:
    # Given 600 invoices whose deadline passed (the job did not run) and 10 due in an hour
    now = START + 30 * MINUTE
    deadlines = [now - 5 * MINUTE] * 600 + [now + 60 * MINUTE] * 10

    # Then the overdue ones go now, the others wait for their own even rate
    assert release_count(deadlines, now) == 600
    assert release_count(deadlines[600:], now) == 0


def test_fewer_invoices_than_minutes_go_one_a_minute_at_the_end_of_the_window() -> None:
    # Given 10 invoices shipped at once with a 60-minute window
    released = simulate([Shipment(START + timedelta(seconds=20), 10)], 60 * MINUTE, on_time(62))

    # Then one a minute, the last in its deadline's minute
    assert [item.minute for item in released] == list(range(51, 61))
    assert_released_by_deadlines(released)


def test_a_one_minute_window_releases_in_the_next_minute() -> None:
    released = simulate([Shipment(START + timedelta(seconds=20), 10)], MINUTE, on_time(3))

    assert {item.minute for item in released} == {1}


def test_nothing_scheduled_releases_nothing() -> None:
    assert release_count([], START) == 0
    assert release_count([], START, cap=0, released_this_tick=5) == 0


# ---------------------------------------------------------------------------------------------- even spread


@SEEDS
def test_a_burst_of_60_or_more_is_spread_evenly_at_the_lowest_rate(seed: int) -> None:
    # Given N >= 60 invoices shipped at once, runs late and repeated (the repeats counted)
    shipment, window, runs = random_burst(seed)

    # When
    released = simulate([shipment], timedelta(minutes=window), runs, count_repeats=True)

    # Then no minute carries more than 1.2 times the mean, the peak is the lowest that meets the deadline,
    # and the last leaves by the deadline
    minutes = per_minute(released)
    assert max(minutes) <= 1.2 * shipment.count / len(minutes), minutes
    ticks = ticks_for(shipment.at, timedelta(minutes=window), runs)
    assert max(minutes) == -(-shipment.count // ticks), minutes
    assert_released_by_deadlines(released)


def test_600_shipped_at_once_in_a_60_minute_window_go_10_a_minute() -> None:
    released = simulate([Shipment(START + timedelta(seconds=20), 600)], 60 * MINUTE, on_time(62))

    assert per_minute(released) == [10] * 60


def test_100_in_a_60_minute_window_hold_2_a_minute_rather_than_front_load() -> None:
    # Released early, 100 over 60 runs would be 2 a minute for 40 runs and then 1 (peak 1.2 times the mean)
    released = simulate([Shipment(START + timedelta(seconds=20), 100)], 60 * MINUTE, on_time(62))

    assert per_minute(released) == [2] * 50
    assert released[-1].minute == 60


@SEEDS
def test_a_second_burst_mid_window_raises_the_rate_to_at_most_the_two_rates_added(seed: int) -> None:
    # Given a burst, and a second one while the first is being released
    rng = random.Random(seed)
    window = rng.randint(2, 90)
    first = Shipment(START + timedelta(seconds=rng.randint(0, 59)), rng.randint(60, 1200))
    second = Shipment(START + timedelta(seconds=rng.randint(60, window * 60 - 1)), rng.randint(60, 1200))
    runs = random_runs(rng, 2 * window + 2)

    # When
    released = simulate([first, second], timedelta(minutes=window), runs, count_repeats=True)

    # Then both leave by their deadlines, and the peak is no more than each burst's own even rate added up
    assert_released_by_deadlines(released)
    own_rates = [-(-burst.count // ticks_for(burst.at, timedelta(minutes=window), runs)) for burst in (first, second)]
    assert max(per_minute(released)) <= sum(own_rates)


# ---------------------------------------------------------------------------------------------- repeated runs


@SEEDS
def test_repeated_runs_in_a_minute_release_what_one_run_would_when_the_repeats_are_counted(seed: int) -> None:
    # Given a burst shipped before minute 0's runs (one shipped between two runs of a minute is found a minute
    # earlier by the second run, which is right but not the same)
    shipment, window, runs = random_burst(seed, min_size=1)
    shipment = Shipment(START, shipment.count)

    repeated = simulate([shipment], timedelta(minutes=window), runs, count_repeats=True)
    once = simulate([shipment], timedelta(minutes=window), runs.without_repeats())

    assert Counter(item.minute for item in repeated) == Counter(item.minute for item in once)


@SEEDS
def test_a_repeated_run_never_doubles_the_rate_even_when_not_counted(seed: int) -> None:
    shipment, window, runs = random_burst(seed, min_size=1)

    repeated = simulate([shipment], timedelta(minutes=window), runs)
    once = simulate([shipment], timedelta(minutes=window), runs.without_repeats())

    assert max(per_minute(repeated)) < 2 * max(per_minute(once)) or max(per_minute(once)) == 1
    assert_released_by_deadlines(repeated)


def test_a_repeated_run_releases_nothing_more_while_the_rate_is_below_the_minutes_left() -> None:
    # Given 600 due in 60 minutes, and this minute's share (10) already released by a first run
    now = START + timedelta(seconds=5)
    deadlines = [START + 59 * MINUTE + timedelta(seconds=20)] * 600

    first = release_count(deadlines, now)
    again = release_count(deadlines[first:], now + timedelta(seconds=30))

    assert (first, again) == (10, 0)


# ---------------------------------------------------------------------------------------------- the realm's budget


@SEEDS
def test_no_minute_releases_more_than_the_cap(seed: int) -> None:
    # Given a cap of what the realm's budget leaves for invoices each minute, and staggered shipments
    rng = random.Random(seed)
    window, cap = rng.randint(1, 60), rng.randint(1, 60)
    shipments = random_shipments(rng, window * 60, most=5, largest=300)
    total = sum(shipment.count for shipment in shipments)
    runs = random_runs(rng, 2 * window + 2 + total // cap)

    released = simulate(shipments, timedelta(minutes=window), runs, cap=cap, count_repeats=True)

    assert max(per_minute(released)) <= cap


@SEEDS
def test_a_burst_within_the_cap_meets_its_deadline_and_one_above_it_catches_up_at_the_cap(seed: int) -> None:
    shipment, window, _ = random_burst(seed)
    cap = random.Random(seed).choice([5, 20, 60, 450])
    runs = on_time(window + 2 + shipment.count // cap)
    ticks = ticks_for(shipment.at, timedelta(minutes=window), runs)

    released = simulate([shipment], timedelta(minutes=window), runs, cap=cap)

    minutes = per_minute(released)
    if -(-shipment.count // ticks) <= cap:
        assert_released_by_deadlines(released)
    else:  # the deadline cannot be met: at the cap from the first run until all are out
        assert minutes[:-1] == [cap] * (len(minutes) - 1)
        assert released[0].minute == first_run_after(runs, shipment.at)


def test_the_cap_counts_what_this_minute_already_released() -> None:
    deadlines = [START] * 100  # overdue

    assert release_count(deadlines, START, cap=40) == 40
    assert release_count(deadlines[40:], START, cap=40, released_this_tick=40) == 0


# ---------------------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"now": datetime(2026, 12, 1, 12, 0)}, "now must be timezone-aware"),
        ({"deadlines": [datetime(2026, 12, 1, 12, 0)]}, "deadline must be timezone-aware"),
        ({"tick": timedelta(0)}, "tick must be a positive duration"),
        ({"cap": -1}, "cap must be 0 or more"),
        ({"released_this_tick": -1}, "released_this_tick must be 0 or more"),
    ],
)
def test_bad_arguments_are_refused_with_the_fix(arguments: dict[str, object], message: str) -> None:
    call: dict[str, object] = {"deadlines": [START + MINUTE], "now": START} | arguments

    with pytest.raises(ValueError, match=message):
        release_count(**call)  # type: ignore[arg-type]
