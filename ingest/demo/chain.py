"""FIFO supply planning: lots sized and timed so that every need is covered when it happens.

The whole demo hangs on one idea: generate needs first (sales lines, then the work orders that make
the goods, then their components), then create the lots that cover them, each lot available shortly
before the first need that touches it. Matching needs to lots is an interval merge of two cumulative
sums, so it is vectorised, and running on-hand per lot can never go negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86_400
HOUR = 3_600


@dataclass
class Plan:
    """Lots that cover a sorted need stream and the need->lot segments (quantities in milli-units)."""

    lot_qty: np.ndarray
    lot_avail: np.ndarray
    seg_need: np.ndarray
    seg_lot: np.ndarray
    seg_qty: np.ndarray


def fifo(
    need_t: np.ndarray,
    need_q: np.ndarray,
    lot_min: int,
    lot_max: int,
    lead: tuple[int, int],
    rng: np.random.Generator,
    unit: int = 1,
) -> Plan:
    """Cover needs (sorted by time) with lots of ``lot_min..lot_max`` available ``lead`` seconds early.

    ``unit`` makes lot sizes whole multiples (1000 milli = whole pieces). Lot sizes shrink when the
    total need is small so that even a tiny scale gets several lots a year.
    """
    cum_need = np.cumsum(need_q)
    total = int(cum_need[-1])
    cap = max(unit, total // 8)
    hi = max(unit, min(lot_max, cap))
    lo = max(unit, min(lot_min, hi // 2))
    n = total // lo + 2
    sizes = rng.integers(lo // unit, hi // unit + 1, n, dtype=np.int64) * unit
    cum_lot = np.cumsum(sizes)
    k = int(np.searchsorted(cum_lot, total)) + 1
    sizes, cum_lot = sizes[:k], cum_lot[:k]
    first_need = np.searchsorted(cum_need, cum_lot - sizes, side="right")
    avail = need_t[first_need] - rng.integers(lead[0], lead[1] + 1, k)
    ends = np.unique(np.concatenate([cum_need, cum_lot[cum_lot < total]]))
    starts = np.concatenate([[0], ends[:-1]])
    keep = ends > starts
    ends, starts = ends[keep], starts[keep]
    return Plan(
        lot_qty=sizes,
        lot_avail=avail,
        seg_need=np.searchsorted(cum_need, starts, side="right"),
        seg_lot=np.searchsorted(cum_lot, starts, side="right"),
        seg_qty=ends - starts,
    )


def work_time(day_start: np.ndarray, rng: np.random.Generator, first: int = 7, last: int = 18) -> np.ndarray:
    """Seconds at a random minute of the working day that starts at ``day_start`` (midnight seconds)."""
    return day_start + rng.integers(first * 60, last * 60, len(day_start)) * 60


def floor_day(t: np.ndarray) -> np.ndarray:
    return (t // DAY) * DAY
