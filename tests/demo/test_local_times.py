"""The demo writes no local time its sites' clocks skip or repeat (ingest would rightly refuse it).

Checked with Python's zoneinfo, independently of the writer's SQL: a wall-clock time is skipped when it
does not survive a round trip through UTC, repeated when its two folds have different offsets.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

from ingest.contract import load_contract

from .feed import Feed


def _skipped_or_repeated(t: dt.datetime, zone: ZoneInfo) -> bool:
    a, b = t.replace(tzinfo=zone, fold=0), t.replace(tzinfo=zone, fold=1)
    back = a.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    return back != t or a.utcoffset() != b.utcoffset()


def test_no_demo_timestamp_falls_in_a_daylight_saving_change(scale1: Feed) -> None:
    zones = [ZoneInfo(z) for z in scale1.raw("sites")["timezone"].dropna().unique()]
    contract = load_contract()
    bad = []
    checked = 0
    for entity in contract:
        cols = [c.name for c in entity.columns if c.type == "timestamp"]
        frame = scale1.raw(entity.name)
        for col in cols:
            if col not in frame:
                continue
            text = frame[col].dropna().astype(str)
            local = text[~text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)]
            # only the two change days of the year can hold such a time: test those rows
            stamps = pd.to_datetime(local, errors="coerce", format="ISO8601").dropna()
            near = stamps[(stamps.dt.month.isin([3, 10, 11])) & (stamps.dt.hour < 4)]
            checked += len(near)
            bad += [(entity.name, col, t) for t in near if any(_skipped_or_repeated(t, z) for z in zones)]
    assert checked > 0  # the demo year has night-time rows around the changes
    assert bad == []
