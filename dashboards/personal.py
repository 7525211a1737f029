"""Personal data on the pages: whether the signed-in user sees it unmasked, and the audit record when so.

The masking itself and the list of personal columns are medtower/pii.py's; this module only joins them to
the request (the signed-in user's role, the app's settings), so every page asks the same two questions.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dashboards import auth
from dashboards.components import settings
from medtower import pii


def unmasked() -> bool:
    """Whether this request's user may see personal data unmasked (the ``pii.unmasked`` right)."""
    return auth.can(pii.RIGHT)


def record_view(
    df: pd.DataFrame,
    cols: Sequence[str],
    object_type: str,
    object_id: str,
    where: str,
    *,
    id_column: str | None = None,
    site: str | None = None,
) -> None:
    """The ``pii.view`` record of unmasked ``cols`` of ``df`` about to be served; none when they hold no
    value (nothing personal shown). ``id_column``: the rows' ids, recorded for a list."""
    shown = [c for c in cols if c in df.columns and df[c].notna().any()]
    if not shown:
        return
    ids: list[str] = []
    if id_column is not None:
        ids = [str(v) for v in df.loc[df[shown].notna().any(axis=1), id_column]]
    pii.reveal(settings(), auth.actor(), object_type, object_id, shown, where, ids=ids, site=site)
