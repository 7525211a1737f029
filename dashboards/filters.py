"""The global filters (site, as-of date, period) and their URL form.

Every page reads the same ``Filters``; the query string is the source of truth so
that a copied link reproduces the view.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

PERIOD_CHOICES = (7, 30, 90, 180, 365)
DEFAULT_PERIOD = 30
FILTER_KEYS = ("as_of", "period", "site")
MAX_PERIOD = 3660
# The rules the browser's copy of the URL sync needs (dashboards/assets/filters.js), from here.
FILTER_RULES = {"default_period": DEFAULT_PERIOD, "max_period": MAX_PERIOD, "keys": list(FILTER_KEYS)}


@dataclass(frozen=True)
class Filters:
    as_of: dt.date
    period_days: int = DEFAULT_PERIOD
    site: str | None = None

    @property
    def period_start(self) -> dt.date:
        """First local date of the window ``A - P < d <= A``."""
        return self.as_of - dt.timedelta(days=self.period_days - 1)

    @property
    def previous(self) -> Filters:
        return Filters(self.as_of - dt.timedelta(days=self.period_days), self.period_days, self.site)

    def to_store(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "period_days": self.period_days, "site": self.site}

    @classmethod
    def from_store(cls, data: dict[str, Any] | None, default_as_of: dt.date | None = None) -> Filters:
        data = data or {}
        as_of = _parse_date(data.get("as_of")) or default_as_of or dt.date.today()
        return cls(
            as_of=as_of, period_days=_parse_period(data.get("period_days")), site=data.get("site") or None
        )

    def query_string(self) -> str:
        params: dict[str, str] = {"as_of": self.as_of.isoformat(), "period": str(self.period_days)}
        if self.site:
            params["site"] = self.site
        return "?" + urlencode(params)

    def merged_query_string(self, search: str | None) -> str:
        """This query string with the page's own parameters (e.g. ``q`` on traceability) kept after it."""
        own = [
            (k, v)
            for k, v in parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
            if k not in FILTER_KEYS
        ]
        return self.query_string() + ("&" + urlencode(own) if own else "")

    @classmethod
    def from_query_string(cls, search: str | None, default_as_of: dt.date) -> Filters:
        qs = parse_qs((search or "").lstrip("?"))

        def first(name: str) -> str | None:
            values = qs.get(name)
            return values[0] if values else None

        return cls(
            as_of=_parse_date(first("as_of")) or default_as_of,
            period_days=_parse_period(first("period")),
            site=first("site") or None,
        )


def _parse_date(value: object) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _parse_period(value: object) -> int:
    try:
        days = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return DEFAULT_PERIOD
    return days if 1 <= days <= MAX_PERIOD else DEFAULT_PERIOD
