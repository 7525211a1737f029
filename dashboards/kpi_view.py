"""KPI values for tiles and the review: delegates the math to ``medtower.kpis``.

This module only reads the registry (``medtower.kpis.CATALOG``: label, unit, target, page), colours
a value red/amber/green (``medtower.kpis.status``), gives the delta to the previous period and shapes
series for sparklines. It never re-implements a KPI.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from dashboards.filters import Filters
from medtower import kpis


@dataclass(frozen=True)
class KpiSpec:
    kpi_id: str
    label: str
    unit: str | None
    target: float | None
    higher_is_better: bool
    amber: float | None  # the threshold between amber and red; target separates green from amber
    page: str


def catalog() -> list[KpiSpec]:
    """The KPI registry ``medtower.kpis.CATALOG`` as tiles show it (the page a tile drills into included)."""
    return [
        KpiSpec(
            kpi_id=k.id,
            label=k.label,
            unit=k.unit,
            target=k.target,
            higher_is_better=k.higher_is_better,
            amber=None,
            page=k.page,
        )
        for k in kpis.CATALOG
    ]


def rag(value: float | None, spec: KpiSpec) -> str | None:
    """green at or better than target, amber up to the amber threshold, red beyond; None without data.

    Without an explicit amber threshold this is ``medtower.kpis.status`` (within 10 % of the target is
    amber), the colour the review pack and the weekly email give the same value.
    """
    if spec.amber is None:
        return kpis.status_against(value, spec.target, spec.higher_is_better)
    if value is None or spec.target is None:
        return None
    better = (lambda a, b: a >= b) if spec.higher_is_better else (lambda a, b: a <= b)
    if better(value, spec.target):
        return "green"
    return "amber" if better(value, spec.amber) else "red"


def compute(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, float | None]:
    return dict(kpis.compute_kpis(con, as_of=f.as_of, period_days=f.period_days, site=f.site)["kpis"])


def series(
    con: duckdb.DuckDBPyConnection, f: Filters, points: int = 8
) -> dict[str, list[tuple[dt.date, float | None]]]:
    """Each KPI at the ends of the last ``points`` periods, oldest first (sparklines, trends)."""
    dates = [f.as_of - dt.timedelta(days=f.period_days * i) for i in range(points - 1, -1, -1)]
    df = kpis.kpi_series(con, dates, f.period_days, f.site)
    out: dict[str, list[tuple[dt.date, float | None]]] = {}
    for kpi_id, part in df.sort_values("as_of").groupby("kpi_id", sort=False):
        out[str(kpi_id)] = [
            (pd.Timestamp(d).date(), None if pd.isna(v) else float(v))
            for d, v in zip(part["as_of"], part["value"], strict=True)
        ]
    return out


@dataclass(frozen=True)
class KpiValues:
    current: dict[str, float | int | None]
    previous: dict[str, float | int | None]
    trend: dict[str, list[tuple[dt.date, float | None]]]


_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 64


def values(
    con: duckdb.DuckDBPyConnection, f: Filters, points: int = 8, warehouse: Hashable | None = None
) -> KpiValues:
    """This period, the previous one and the trend, from one set-based series (three queries).

    The series is taken at A, A - P, A - 2P ...: its last point is this period and the one before it
    the previous period, so tiles and the review need no separate computations.
    ``warehouse`` identifies the published file (taken *before* connecting); with it, results are
    kept in a small cache, so the overview and the review do not recompute the same filters.
    """
    if warehouse is None:
        return _values_uncached(con, f, points)
    return _cached(("values", warehouse, f, points), lambda: _values_uncached(con, f, points))


def by_site(con: duckdb.DuckDBPyConnection, f: Filters, warehouse: Hashable | None = None) -> dict[str, Any]:
    """Every KPI per site (``medtower.kpis.kpis_by_site``), kept like ``values``: it does not depend on the
    site filter, so a change of site on the review reuses it (100-170 ms at scale 10)."""
    if warehouse is None:
        return kpis.kpis_by_site(con, f.as_of, f.period_days)
    key = ("by_site", warehouse, f.as_of, f.period_days)
    return _cached(key, lambda: kpis.kpis_by_site(con, f.as_of, f.period_days))


def _cached(key: tuple[Any, ...], compute: Any) -> Any:
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    result = compute()
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def _values_uncached(con: duckdb.DuckDBPyConnection, f: Filters, points: int) -> KpiValues:
    trend = series(con, f, points=max(points, 2))
    counts = {k.id: k.is_count for k in kpis.CATALOG}
    current: dict[str, float | int | None] = {}
    previous: dict[str, float | int | None] = {}
    for kpi_id, pts in trend.items():
        if len(pts) < 2 or pts[-1][0] != f.as_of or pts[-2][0] != f.previous.as_of:
            raise ValueError(f"KPI series for {kpi_id} does not end at {f.previous.as_of}, {f.as_of}")
        for out, (_, value) in ((current, pts[-1]), (previous, pts[-2])):
            if value is not None and counts.get(kpi_id):
                value = int(value)
            out[kpi_id] = value
    return KpiValues(current, previous, trend)


def delta_text(current: float | None, previous: float | None, unit: str | None) -> str:
    """The change against the previous period (medtower.kpis.format_change, shared with the email)."""
    return kpis.format_change(current, previous, unit)
