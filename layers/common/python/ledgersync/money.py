"""Money is Decimal, rounded half-up to the cent at the edges; allocations never lose a cent."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> Decimal:
    """Round an amount to two decimals, half up (accounting rounding)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` (in cents) across ``weights`` by largest remainder, so the parts add up to it exactly."""
    total = to_cents(total)
    if not weights:
        return []
    weight_sum = sum(weights, Decimal(0))
    total_cents = int(total / CENT)
    if weight_sum == 0:
        shares = [Decimal(total_cents) / len(weights)] * len(weights)
    else:
        shares = [Decimal(total_cents) * w / weight_sum for w in weights]
    floors = [int(s) if s >= 0 else -int(-s) for s in shares]
    remainder = total_cents - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: shares[i] - floors[i], reverse=remainder > 0)
    step = 1 if remainder > 0 else -1
    for i in order[: abs(remainder)]:
        floors[i] += step
    return [Decimal(c) * CENT for c in floors]
