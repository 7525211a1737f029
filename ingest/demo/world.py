"""The in-memory demo company: entity frames under construction, id counters and the as-of clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ingest.demo.chain import DAY

EPOCH = dt.date(1970, 1, 1)


@dataclass
class World:
    """Everything generated so far; each generator appends frames for its entities."""

    as_of: dt.date
    scale: float
    rng: np.random.Generator
    parts: list[pd.DataFrame] = field(default_factory=list)
    frames: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    planted: dict[str, object] = field(default_factory=dict)
    internal: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def t0(self) -> int:
        """Midnight at the start of the as-of day, in local seconds since 1970."""
        return (self.as_of - EPOCH).days * DAY

    @property
    def end(self) -> int:
        """End of the as-of day (exclusive): events at or after it have not happened yet."""
        return self.t0 + DAY

    def day(self, offset: int) -> int:
        return self.t0 + offset * DAY

    def ids(self, kind: str, n: int) -> np.ndarray:
        """``n`` fresh integer ids of one kind, continuing the counter."""
        start = self.counters.get(kind, 0) + 1
        self.counters[kind] = start + n - 1
        return np.arange(start, start + n, dtype=np.int64)

    def add(self, entity: str, frame: pd.DataFrame) -> None:
        if len(frame):
            self.frames.setdefault(entity, []).append(compact(frame))

    def table(self, entity: str) -> pd.DataFrame:
        parts = self.frames.get(entity, [])
        if not parts:
            return pd.DataFrame()
        if len(parts) > 1:
            self.frames[entity] = [compact(pd.concat(parts, ignore_index=True))]
        return self.frames[entity][0]

    def replace(self, entity: str, frame: pd.DataFrame) -> None:
        self.frames[entity] = [frame]


def ts(seconds: np.ndarray | pd.Series) -> np.ndarray:
    """Local seconds -> datetime64[s] (NaT for negative sentinels)."""
    arr = np.asarray(seconds, dtype=np.int64)
    out = arr.astype("datetime64[s]")
    out[arr < 0] = np.datetime64("NaT")
    return out


def dates(seconds: np.ndarray | pd.Series) -> np.ndarray:
    """Local seconds -> midnight datetime64[s] of that date (NaT for negative sentinels)."""
    arr = np.asarray(seconds, dtype=np.int64)
    return ts(np.where(arr < 0, arr, (arr // DAY) * DAY))


def to_date(seconds: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(seconds // DAY))


def nint(values: np.ndarray | pd.Series, valid: np.ndarray | pd.Series) -> pd.arrays.IntegerArray:
    """A nullable Int64 array: ``values`` where ``valid``, NULL elsewhere."""
    vals = np.asarray(values)
    ok = np.asarray(valid, dtype=bool)
    return pd.arrays.IntegerArray(np.where(ok, vals, 0).astype(np.int64), ~ok)


def compact(frame: pd.DataFrame) -> pd.DataFrame:
    """Low-cardinality text columns as categoricals: at scale 100 this is most of the memory saved."""
    if len(frame) < 5_000:
        return frame
    out = {}
    for col in frame.columns:
        s = frame[col]
        if (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)) and not isinstance(
            s.dtype, pd.CategoricalDtype
        ):
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            if len(uniques) <= 4096:
                out[col] = pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))
                continue
        out[col] = s.to_numpy() if not isinstance(s.dtype, pd.api.extensions.ExtensionDtype) else s.array
    return pd.DataFrame(out, index=frame.index)
