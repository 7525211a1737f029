"""Read a demo drop folder back the way a test should: from the CSV files only, as text."""

from __future__ import annotations

import datetime as dt
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

CONTRACT = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "ingest" / "source_contract.yaml").read_text()
)


def columns(entity: str) -> list[str]:
    return list(CONTRACT["entities"][entity]["columns"])


def gs1_ok(digits: str) -> bool:
    """GS1 mod-10: weights 3,1,3... from the right over all digits but the last."""
    if not digits.isdigit():
        return False
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def parse_gs1(payload: str) -> dict[str, str]:
    """Minimal GS1 parser for (01), (17), (10): parentheses, raw with GS, ']d2' DataMatrix."""
    if payload.startswith("("):
        parts = payload[1:].split("(")
        return dict(p.split(")", 1) for p in parts)
    s = payload.removeprefix("]d2").lstrip("\x1d")
    out: dict[str, str] = {}
    while s:
        ai, s = s[:2], s[2:]
        if ai == "01":
            out[ai], s = s[:14], s[14:]
        elif ai == "17":
            out[ai], s = s[:6], s[6:]
        elif ai == "10":
            value, _, s = s.partition("\x1d")
            out[ai] = value
        else:
            raise ValueError(f"unexpected AI {ai} in {payload!r}")
        s = s.lstrip("\x1d")
    return out


class Feed:
    """One generated folder: the manifest and each entity as text, bad rows separable."""

    def __init__(self, path: Path, returned: dict[str, Any]):
        self.dir = path
        self.returned = returned
        self.manifest = json.loads((path / "_demo_manifest.json").read_text(encoding="utf-8"))
        self.as_of = dt.date.fromisoformat(self.manifest["as_of"])
        self._cache: dict[str, pd.DataFrame] = {}

    @property
    def planted(self) -> dict[str, Any]:
        return self.manifest["planted"]

    def raw(self, entity: str) -> pd.DataFrame:
        """All rows as strings ('' = empty), with their 1-based file line in ``_line``."""
        if entity not in self._cache:
            df = pd.read_csv(self.dir / f"{entity}.csv", dtype=str, keep_default_na=False, na_filter=False)
            df["_line"] = range(2, len(df) + 2)
            self._cache[entity] = df
        return self._cache[entity]

    @cached_property
    def bad_lines(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for b in self.manifest["bad_rows"]:
            out.setdefault(b["entity"], set()).add(b["line"])
        return out

    def good(self, entity: str) -> pd.DataFrame:
        df = self.raw(entity)
        return df[~df["_line"].isin(self.bad_lines.get(entity, set()))]

    # typed views of good rows --------------------------------------------------------------------
    def num(self, entity: str, *cols: str) -> pd.DataFrame:
        df = self.good(entity).copy()
        for c in cols:
            df[c] = pd.to_numeric(df[c].replace("", None))
        return df

    @cached_property
    def movements(self) -> pd.DataFrame:
        m = self.num("inventory_movements", "qty")
        m["t"] = pd.to_datetime(m["moved_at"])
        return m

    def onhand(self, at_end_of: dt.date | None = None) -> pd.Series:
        m = self.movements
        m = m[m["lot_id"] != ""]
        if at_end_of is not None:
            m = m[m["t"] < pd.Timestamp(at_end_of) + pd.Timedelta(days=1)]
        return m.groupby("lot_id")["qty"].sum()
