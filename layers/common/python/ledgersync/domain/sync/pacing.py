"""How many of a company's scheduled invoices the automatic queue releases now (placeholder of the lead; the
pacing branch replaces it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta


def release_count(deadlines: Sequence[datetime], now: datetime, tick: timedelta = timedelta(minutes=1)) -> int:
    """The fewest releases now that still meet every deadline if each later tick releases as many."""
    need = 0
    for i, deadline in enumerate(sorted(deadlines), start=1):
        ticks_left = max(1, math.floor((deadline - now) / tick))
        need = max(need, math.ceil(i / ticks_left))
    return min(need, len(deadlines))
