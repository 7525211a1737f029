"""What every query module of the pages shares: running SQL on the marts, the site filter, row limits."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboards.filters import Filters
from dashboards.warehouse_reader import cached_result

ROW_LIMIT = 500


class MartMissingError(LookupError):
    """A mart the page needs has not been built (yet) in this warehouse."""


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """Run one query; a missing mart becomes MartMissingError, which the pages show as a notice.

    On a cursor of the published file, a query run before with the same parameters is answered from the
    reader's cache (``warehouse_reader.ResultCache``, MEDTOWER_QUERY_CACHE_MB).
    """
    try:
        return cached_result(con, sql, params or [], lambda: con.execute(sql, params or []).df())
    except duckdb.CatalogException as exc:
        raise MartMissingError(str(exc).split("\n")[0]) from exc


def site_clause(f: Filters, column: str = "site_id") -> tuple[str, list[Any]]:
    """`` and <column> = ?`` and its parameter with a site filter; nothing for all sites."""
    if f.site:
        return f" and {column} = ?", [f.site]
    return "", []
