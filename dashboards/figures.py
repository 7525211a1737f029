"""Figure builders: plain functions from DataFrames to Plotly figures (no data access here)."""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from medtower.rows import is_missing

FONT = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
STATUS_COLORS = {
    "released": "#2e7d32",
    "quarantine": "#f9a825",
    "on_hold": "#ef6c00",
    "rejected": "#c62828",
    "expired": "#6d4c41",
    "recalled": "#8e24aa",
    "consumed": "#9e9e9e",
}
SEVERITY_COLORS = {"critical": "#b71c1c", "major": "#ef6c00", "minor": "#fbc02d"}
ACCENT = "#0b5cad"


GRID = "#e4e9f0"
# The look of plotly's "plotly_white" set directly: assigning a named template validates the whole
# template on every figure (about 50 ms each), which made a page of a dozen charts slow.
_AXIS = {"gridcolor": GRID, "linecolor": GRID, "zerolinecolor": GRID, "automargin": True}


def _layout(title: str | None = None, height: int | None = None, **extra: Any) -> dict[str, Any]:
    """The shared layout as a plain dict, so a figure can be built in one validated step."""
    layout: dict[str, Any] = {
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": dict(_AXIS),
        "yaxis": dict(_AXIS),
        "font": {"family": FONT, "size": 11, "color": "#1f2933"},
        "margin": {"l": 48, "r": 12, "t": 32 if title else 10, "b": 36},
        "legend": {"orientation": "h", "y": -0.18, "x": 0},
    }
    if title:
        layout["title"] = {"text": title, "x": 0, "font": {"size": 13}}
    if height:
        layout["height"] = height
    for key, value in extra.items():
        if key in ("xaxis", "yaxis"):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


# Plotly's default template, cut to what these charts use: every figure carried the whole of it (7 kB:
# defaults for 3-D, polar, geo and two dozen trace types) to the browser on each update.
LEAN_TRACE_TYPES = ("bar", "scatter")
LEAN_LAYOUT_DROP = ("polar", "ternary", "scene", "geo", "coloraxis")


def _lean_template() -> dict[str, Any]:
    import plotly.io as pio

    full = pio.templates["plotly"].to_plotly_json()
    layout = {k: v for k, v in full["layout"].items() if k not in LEAN_LAYOUT_DROP}
    data = {k: v for k, v in full["data"].items() if k in LEAN_TRACE_TYPES}
    return {"data": data, "layout": layout}


LEAN_TEMPLATE = _lean_template()


# Margins fitted here, not by Plotly: an axis with ``automargin`` draws, measures its tick labels and, when
# they need more room than the margin gives, draws the whole figure again - on every update, since each new
# set of rows brings new labels (on Inventory's site change 40 % of Plotly's time, docs/benchmarks.md).
# Like the grid's column widths (components.py), the room is estimated from the labels' text: category
# names as they are, numbers as Plotly writes their ticks ("250k", "1.5M"), dates as two lines. An axis
# whose labels may be turned (many or long categories along x) keeps Plotly's automargin.
GLYPH_EM = 0.66  # average glyph width of the chart font, in font sizes (digits and capitals)
LINE_EM = 1.35
TICK_PAD_PX = 8
TITLE_PX = 20
ASSUMED_PLOT_PX = 480  # the narrowest plot area of a half-width panel: beyond it, x labels may turn


def _as_list(values: Any) -> list[Any]:
    """A trace's array as a list: plotly's JSON writes numpy arrays as typed arrays (dtype + base64)."""
    if values is None:
        return []
    if isinstance(values, dict) and "bdata" in values and "dtype" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    if isinstance(values, str | bytes):
        return [values]
    try:
        return list(values)
    except TypeError:
        return [values]


def _number(value: Any) -> float | None:
    """``value`` as a float where it is a number (not a bool, not missing), else None."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool) and not is_missing(value):
        return float(value)
    return None


def _axis_values(plain: dict[str, Any]) -> dict[str, list[Any]]:
    """Each axis's values ("xaxis", "yaxis2" ...) from the traces on it; stacked bars as their totals."""
    layout = plain.get("layout") or {}
    stacked = layout.get("barmode") in ("stack", "relative")
    out: dict[str, list[Any]] = {}
    totals: dict[tuple[str, Any], float] = {}
    for trace in plain.get("data") or []:
        horizontal = trace.get("orientation") == "h"
        for letter in ("x", "y"):
            ref = str(trace.get(f"{letter}axis") or letter)
            key = f"{letter}axis{ref[1:]}"
            values = _as_list(trace.get(letter))
            base = trace.get("base")
            is_value_axis = trace.get("type") == "bar" and (letter == "x") == horizontal
            if is_value_axis and base is not None:
                bases = _as_list(base)
                values = bases if len(bases) > 1 else bases * len(values)
            if is_value_axis and stacked and base is None:
                cats = _as_list(trace.get("y" if horizontal else "x"))
                for cat, v in zip(cats, values, strict=False):
                    number = _number(v)
                    if number is not None and number > 0:
                        totals[(key, cat)] = totals.get((key, cat), 0.0) + number
            out.setdefault(key, []).extend(values)
    for (key, _), total in totals.items():
        out[key].append(total)
    return out


def _tick_chars(values: list[Any], axis: dict[str, Any]) -> tuple[str, int]:
    """("category" | "date" | "linear", the characters of the widest tick label)."""
    present = [v for v in values if not is_missing(v)]
    kind = axis.get("type")
    if kind is None:
        if present and all(isinstance(v, str) for v in present):
            kind = "date" if all(_looks_like_date(v) for v in present) else "category"
        elif present and all(isinstance(v, dt.date | pd.Timestamp | np.datetime64) for v in present):
            kind = "date"
        else:
            kind = "linear"
    if kind == "category":
        return kind, max((len(str(v)) for v in present), default=0)
    if kind == "date":
        return kind, 6  # "Dec 14"; the year goes on a second line
    numbers = [n for n in map(_number, present) if n is not None]
    top = max((abs(v) for v in numbers), default=0.0)
    if top >= 10_000:
        chars = 4  # Plotly's SI ticks: "250k", "1.5M"
    elif top >= 10:
        chars = len(str(int(top))) + 1  # a step of 2.5 writes "12.5"
    else:
        chars = 4  # "0.25"
    negative = any(v < 0 for v in numbers)
    affix = len(str(axis.get("ticksuffix") or "")) + len(str(axis.get("tickprefix") or ""))
    return kind, chars + affix + (1 if negative else 0)


def _looks_like_date(text: str) -> bool:
    return len(text) >= 10 and text[4] == "-" and text[7] == "-" and text[:4].isdigit()


def fit_margins(plain: dict[str, Any]) -> dict[str, Any]:
    """``plain`` with margins that hold its tick labels and axis titles, and automargin off on the axes
    fitted (see GLYPH_EM). Axes with automargin already off, hidden or turned labels are left as they are."""
    layout = dict(plain.get("layout") or {})
    font = float((layout.get("font") or {}).get("size") or 12)
    margin = dict(layout.get("margin") or {})
    values = _axis_values(plain)
    for key in sorted(values):
        axis = dict(layout.get(key) or {})
        if axis.get("automargin") is not True or axis.get("visible") is False:
            continue
        size = float((axis.get("tickfont") or {}).get("size") or font)
        kind, chars = _tick_chars(values[key], axis)
        title = (axis.get("title") or {}).get("text") if isinstance(axis.get("title"), dict) else None
        title_px = TITLE_PX if title else 0
        label_px = chars * size * GLYPH_EM
        if key.startswith("y"):
            side = "r" if axis.get("side") == "right" else "l"
            margin[side] = max(int(margin.get(side, 0)), math.ceil(label_px + TICK_PAD_PX + title_px))
        else:
            n = len({str(v) for v in values[key]}) if kind == "category" else 0
            if kind == "category" and n * (label_px + TICK_PAD_PX) > ASSUMED_PLOT_PX:
                continue  # Plotly may turn these labels: it measures them
            lines = 2 if kind == "date" else 1
            need_b = math.ceil(lines * size * LINE_EM + TICK_PAD_PX + title_px)
            margin["b"] = max(int(margin.get("b", 0)), need_b)
            if kind != "category":  # the last tick's label is centred on the plot's right edge
                margin["r"] = max(int(margin.get("r", 0)), math.ceil(label_px / 2 + 4))
        layout[key] = {**axis, "automargin": False}
    layout["margin"] = margin
    return {**plain, "layout": layout}


def lean(fig: go.Figure | dict[str, Any], revision: str = "keep") -> dict[str, Any]:
    """A figure as the browser needs it: the lean template, and ``uirevision`` so an update keeps the
    user's zoom and legend choices (Plotly.react then redraws only what changed)."""
    plain = fit_margins(fig.to_plotly_json() if isinstance(fig, go.Figure) else dict(fig))
    used = {t.get("type", "scatter") for t in plain.get("data") or []}
    if not used <= set(LEAN_TRACE_TYPES):
        return plain  # a trace type the lean template has no defaults for keeps the full one
    layout = dict(plain.get("layout") or {})
    layout["template"] = LEAN_TEMPLATE
    layout.setdefault("uirevision", revision)
    return {**plain, "layout": layout}


def empty_plain(message: str) -> dict[str, Any]:
    """A figure that only says why it is empty, as a plain dict (no Plotly validation)."""
    hidden = {"visible": False}
    note = {"text": message, "showarrow": False, "font": {"size": 13, "color": "#52606d"}}
    return {"data": [], "layout": {**_layout(), "xaxis": hidden, "yaxis": hidden, "annotations": [note]}}


def empty_figure(message: str) -> go.Figure:
    return go.Figure(empty_plain(message))


def _plain_values(values: Any) -> list[Any]:
    """A column as JSON-ready values (None for a missing one), without Plotly's per-figure conversion."""
    if isinstance(values, pd.Series):
        values = values.astype(object).where(values.notna(), None).tolist()
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


def sparkline(values: list[float | None], color: str = ACCENT) -> dict[str, Any]:
    """A tile's sparkline as a plain dict: the Overview draws one per KPI (15), each validated as a
    ``go.Figure`` cost ~10 ms of server time for a line of 8 points."""
    hidden = {"visible": False}
    return {
        "data": [
            {
                "type": "scatter",
                "x": list(range(len(values))),
                "y": _plain_values(values),
                "mode": "lines",
                "line": {"color": color, "width": 1.6},
                "hoverinfo": "y",
                "connectgaps": True,
            }
        ],
        "layout": {
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "height": 38,
            "showlegend": False,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "xaxis": hidden,
            "yaxis": hidden,
        },
    }


def stock_status_bar(df: pd.DataFrame, top: int = 25) -> go.Figure:
    """Stacked horizontal bars of on-hand quantity per material by stock status."""
    if df.empty:
        return empty_figure("No stock on hand at this date")
    qty = df.assign(on_hand_qty=df["on_hand_qty"].astype(float))
    totals = qty.groupby("material_id")["on_hand_qty"].sum().sort_values(ascending=False).head(top)
    sub = qty[qty["material_id"].isin(totals.index)]
    traces = []
    for status in [s for s in STATUS_COLORS if s in set(sub["status"])]:
        part = sub[sub["status"] == status].groupby("material_id")["on_hand_qty"].sum().reindex(totals.index)
        traces.append(
            go.Bar(
                y=list(totals.index),
                x=part.fillna(0),
                name=status.replace("_", " "),
                orientation="h",
                marker_color=STATUS_COLORS[status],
            )
        )
    layout = _layout(
        barmode="stack",
        yaxis={"autorange": "reversed", "tickfont": {"size": 10}},
        xaxis={"title": {"text": "on-hand quantity (material uom)"}},
    )
    return go.Figure(data=traces, layout=layout)


def expiry_horizon_bar(df: pd.DataFrame) -> dict[str, Any]:
    """Lots with stock by expiry bucket, stacked by status, as a plain dict."""
    if df.empty:
        return empty_plain("No lots with stock on hand")
    traces = [
        {
            "type": "bar",
            "x": part["bucket"].astype(str).tolist(),
            "y": _plain_values(part["lots"]),
            "name": status.replace("_", " "),
            "marker": {"color": STATUS_COLORS[status]},
        }
        for status in STATUS_COLORS
        if not (part := df[df["status"] == status]).empty
    ]
    order = [str(c) for c in df["bucket"].cat.categories] if hasattr(df["bucket"], "cat") else None
    layout = _layout(
        barmode="stack",
        yaxis={"title": {"text": "lots"}},
        xaxis={"categoryorder": "array", "categoryarray": order} if order else {},
    )
    return {"data": traces, "layout": layout}


def trend_line(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    y_title: str,
    percent: bool = False,
    target: float | None = None,
    title: str | None = None,
) -> go.Figure:
    if df.empty or df[y].dropna().empty:
        return empty_figure("No data in this window")
    values = df[y].astype(float) * (100 if percent else 1)
    extra: dict[str, Any] = {"yaxis": {"title": {"text": y_title + (" (%)" if percent else "")}}}
    if target is not None:
        t = target * (100 if percent else 1)
        # A layout shape and annotation rather than add_hline, which costs ~40 ms per figure.
        extra["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": t,
                "y1": t,
                "line": {"color": "#2e7d32", "dash": "dash", "width": 1.5},
            }
        ]
        extra["annotations"] = [
            {
                "text": f"target {t:g}{' %' if percent else ''}",
                "xref": "paper",
                "x": 0,
                "y": t,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 10, "color": "#2e7d32"},
            }
        ]
    # Built in one step from plain dicts: each update_layout call re-validates (~25 ms each).
    return go.Figure(
        data=[
            go.Scatter(
                x=df[x],
                y=values,
                mode="lines+markers",
                line={"color": ACCENT, "width": 2},
                marker={"size": 5},
                name=y_title,
            )
        ],
        layout=_layout(title, **extra),
    )


@dataclass(frozen=True)
class Trend:
    """One KPI's panel of a ``trend_grid``: its points, how to read them and its status colour."""

    title: str
    dates: Sequence[Any]
    values: Sequence[float | None]
    unit: str = ""
    percent: bool = False
    target: float | None = None
    colour: str | None = None  # the status colour of the latest value; None without a status
    status: str = ""  # the status as words, so the colour is not the only cue


def _iso(value: Any) -> Any:
    return value.isoformat()[:10] if hasattr(value, "isoformat") else value


def _axis(n: int, letter: str) -> str:
    return letter if n == 1 else f"{letter}{n}"


def trend_grid(trends: Sequence[Trend], cols: int = 3, row_height: int = 230) -> dict[str, Any]:
    """Small multiples: every KPI's trend in ONE figure, a subplot each (own axes, title, unit, target line
    and status colour), as a plain dict.

    Why: 15 figures cost the browser ~15 Plotly draws per filter change (825 ms at scale 10 against 322 ms
    for one figure of 15 subplots), and building each as a validated ``go.Figure`` cost the server
    ~25 ms a chart. The dict is what ``dcc.Graph`` sends anyway; nothing here needs Plotly's validation.
    """
    n = len(trends)
    rows = max(1, math.ceil(n / cols))
    height = rows * row_height
    top, bottom = 34, 28  # px above each panel for its title, below for its dates
    x_gap = 0.07
    width = (1 - x_gap * (cols - 1)) / cols
    layout: dict[str, Any] = {
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"family": FONT, "size": 11, "color": "#1f2933"},
        "margin": {"l": 44, "r": 12, "t": 8, "b": 8},
        "height": height,
        "showlegend": False,
        "hovermode": "closest",
    }
    data: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for i, t in enumerate(trends, start=1):
        r, c = divmod(i - 1, cols)
        x0 = c * (width + x_gap)
        y_top = 1 - (r * row_height + top) / height
        y_bottom = 1 - ((r + 1) * row_height - bottom) / height
        xa, ya = _axis(i, "x"), _axis(i, "y")
        scale = 100 if t.percent else 1
        ys = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v * scale for v in t.values]
        suffix = " %" if t.percent else (f" {t.unit}" if t.unit and t.unit != "count" else "")
        layout["xaxis" if i == 1 else f"xaxis{i}"] = {
            **_AXIS,
            "automargin": False,
            "domain": [x0, x0 + width],
            "anchor": ya,
            "type": "date",
            "nticks": 5,
            "tickfont": {"size": 9},
        }
        layout["yaxis" if i == 1 else f"yaxis{i}"] = {
            **_AXIS,
            "automargin": False,
            "domain": [max(0.0, y_bottom), min(1.0, y_top)],
            "anchor": xa,
            "nticks": 5,
            "tickfont": {"size": 9},
            "ticksuffix": " %" if t.percent else "",
        }
        unit_text = "%" if t.percent else t.unit
        head = f"<b>{t.title}</b>" + (f" ({unit_text})" if unit_text else "")
        mark = f"<span style='color:{t.colour}'>●</span> " if t.colour else ""
        status = f" · <span style='color:{t.colour or '#52606d'}'>{t.status}</span>" if t.status else ""
        notes.append(
            {
                "text": mark + head + status,
                # In paper coordinates: a panel without data has no axes of its own to refer to.
                "xref": "paper",
                "yref": "paper",
                "x": x0,
                "y": min(1.0, y_top),
                "xanchor": "left",
                "yanchor": "bottom",
                "yshift": 6,
                "showarrow": False,
                "font": {"size": 12},
            }
        )
        if not any(v is not None for v in ys):
            notes.append(
                {
                    "text": "No data in this window",
                    "xref": "paper",
                    "yref": "paper",
                    "x": x0 + width / 2,
                    "y": (max(0.0, y_bottom) + min(1.0, y_top)) / 2,
                    "showarrow": False,
                    "font": {"size": 11, "color": "#52606d"},
                }
            )
            for axis in ("xaxis" if i == 1 else f"xaxis{i}", "yaxis" if i == 1 else f"yaxis{i}"):
                layout[axis]["visible"] = False
            continue
        number = ",.1f" if t.percent or t.unit not in ("count", "") else ",.0f"
        data.append(
            {
                "type": "scatter",
                "xaxis": xa,
                "yaxis": ya,
                "x": [_iso(d) for d in t.dates],
                "y": ys,
                "mode": "lines+markers",
                "line": {"color": ACCENT, "width": 2},
                "marker": {
                    # The latest point, the one the status is of, in the status colour.
                    "size": [5] * (len(ys) - 1) + [10],
                    "color": [ACCENT] * (len(ys) - 1) + [t.colour or ACCENT],
                    "line": {"color": "white", "width": [0] * (len(ys) - 1) + [1.5]},
                },
                "name": t.title,
                "hovertemplate": f"%{{x|%Y-%m-%d}}: %{{y:{number}}}{suffix}<extra>{t.title}</extra>",
            }
        )
        if t.target is not None:
            goal = t.target * scale
            green = "#2e7d32"
            shapes.append(
                {
                    "type": "line",
                    "xref": f"{xa} domain",
                    "x0": 0,
                    "x1": 1,
                    "yref": ya,
                    "y0": goal,
                    "y1": goal,
                    "line": {"color": green, "dash": "dash", "width": 1.5},
                }
            )
            notes.append(
                {
                    "text": f"target {goal:g}{suffix}",
                    "xref": f"{xa} domain",
                    "yref": ya,
                    "x": 0,
                    "y": goal,
                    "xanchor": "left",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 10, "color": green},
                }
            )
    layout["shapes"] = shapes
    layout["annotations"] = notes
    return {"data": data, "layout": layout}


def severity_age_bar(df: pd.DataFrame) -> dict[str, Any]:
    """Open NCRs by age band, stacked by severity, as a plain dict."""
    if df.empty:
        return empty_plain("No open NCRs at this date")
    traces = [
        {
            "type": "bar",
            "x": _plain_values(part["age_band"]),
            "y": _plain_values(part["ncrs"]),
            "name": sev,
            "marker": {"color": SEVERITY_COLORS[sev]},
        }
        for sev in ["critical", "major", "minor"]
        if not (part := df[df["severity"] == sev]).empty
    ]
    layout = _layout(
        barmode="stack",
        xaxis={
            "categoryorder": "array",
            "categoryarray": ["< 30 d", "30-90 d", ">= 90 d"],
            "title": {"text": "age"},
        },
        yaxis={"title": {"text": "open NCRs"}},
    )
    return {"data": traces, "layout": layout}


def pareto(df: pd.DataFrame, category: str, value: str) -> go.Figure:
    if df.empty:
        return empty_figure("No NCRs opened in this window")
    df = df.sort_values(value, ascending=False)
    cum = df[value].cumsum() / df[value].sum() * 100
    cats = _plain_values(df[category])
    # One validated step from plain dicts: add_bar, add_scatter and update_layout validated each.
    return go.Figure(
        {
            "data": [
                {
                    "type": "bar",
                    "x": cats,
                    "y": _plain_values(df[value]),
                    "name": "NCRs",
                    "marker": {"color": ACCENT},
                },
                {
                    "type": "scatter",
                    "x": cats,
                    "y": _plain_values(cum),
                    "name": "cumulative %",
                    "yaxis": "y2",
                    "mode": "lines+markers",
                    "line": {"color": "#c62828"},
                },
            ],
            "layout": _layout(
                yaxis={"title": {"text": "NCRs"}},
                yaxis2={
                    "title": {"text": "cumulative %"},
                    "overlaying": "y",
                    "side": "right",
                    "range": [0, 105],
                },
            ),
        }
    )


WO_STATUS_COLORS = {"done": "#9e9e9e", "running": ACCENT, "waiting": "#90caf9", "skipped": "#e0e0e0"}


def gantt(df: pd.DataFrame, as_of: Any = None) -> dict[str, Any]:
    """Operations of open work orders as bars on a time axis, one row per work center (a plain dict)."""
    if df.empty:
        return empty_plain("No open work orders")
    traces = []
    for status, part in df.groupby("status", sort=False):
        start = pd.to_datetime(part["start"])
        finish = pd.to_datetime(part["finish"])
        traces.append(
            {
                "type": "bar",
                "base": _plain_values(start.dt.strftime("%Y-%m-%dT%H:%M:%S")),
                "x": _plain_values((finish - start).dt.total_seconds() * 1000),
                "y": _plain_values(part["work_center"]),
                "orientation": "h",
                "name": str(status),
                "marker": {"color": WO_STATUS_COLORS.get(str(status), "#607d8b")},
                "customdata": part[["wo_id", "operation"]].astype(object).values.tolist(),
                "hovertemplate": (
                    "%{customdata[0]} · %{customdata[1]}<br>from %{base|%Y-%m-%d %H:%M}<extra></extra>"
                ),
            }
        )
    extra: dict[str, Any] = {}
    if as_of is not None:
        day = pd.Timestamp(as_of).strftime("%Y-%m-%dT%H:%M:%S")
        line = {"color": "#c62828", "dash": "dot"}
        extra["shapes"] = [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": day,
                "x1": day,
                "y0": 0,
                "y1": 1,
                "line": line,
            }
        ]
    layout = _layout(barmode="overlay", xaxis={"type": "date"}, yaxis={"autorange": "reversed"}, **extra)
    return {"data": traces, "layout": layout}


def simple_bar(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    y_title: str,
    color: str = ACCENT,
    percent: bool = False,
    horizontal: bool = False,
) -> dict[str, Any]:
    if df.empty:
        return empty_plain("No data in this window")
    values = _plain_values(df[y].astype(float) * (100 if percent else 1))
    title = {"title": {"text": y_title + (" (%)" if percent else "")}}
    bar: dict[str, Any] = {"type": "bar", "marker": {"color": color}}
    if horizontal:
        bar |= {"y": _plain_values(df[x]), "x": values, "orientation": "h"}
        layout = _layout(yaxis={"autorange": "reversed"}, xaxis=title)
    else:
        bar |= {"x": _plain_values(df[x]), "y": values}
        layout = _layout(yaxis=title)
    return {"data": [bar], "layout": layout}


SUSPECT_COLOR = "#ef6c00"
TRACED_COLOR = "#c62828"


def genealogy_graph(
    edges: pd.DataFrame,
    root: str,
    lot_info: pd.DataFrame | None = None,
    starts: list[str] | None = None,
) -> go.Figure:
    """Lots as nodes in layers by distance from ``root``; edges from component to product.

    The traced lots (``starts``, else the root) are red; a suspect lot (``lot_info.suspect``, with its
    ``why_suspect``) is ringed in orange; a lot's NCRs (``lot_info.ncrs``) sit under it as a diamond with
    id, severity and status. The legend says what each mark means.
    """
    if edges.empty:
        if not starts:
            return empty_figure("No genealogy links for this lot")
        # Traced lots without links are still drawn, with their marks.
        edges = pd.DataFrame({"parent_lot_id": [], "child_lot_id": []}, dtype=str)
    src_col, dst_col = edges.columns[0], edges.columns[1]
    traced = list(dict.fromkeys([root, *(starts or [])]))
    nodes = list(dict.fromkeys([*traced, *edges[src_col].astype(str), *edges[dst_col].astype(str)]))
    # Layer by signed distance from the root: components to the left, products to the right.
    adj_fwd: dict[str, list[str]] = {}
    adj_back: dict[str, list[str]] = {}
    for s, d in zip(edges[src_col].astype(str), edges[dst_col].astype(str), strict=True):
        adj_fwd.setdefault(s, []).append(d)
        adj_back.setdefault(d, []).append(s)
    # From the root first, then from each traced lot the root's walk did not reach (a lot caught at the
    # door has no links: the other traced lots still spread out around themselves).
    layer: dict[str, int] = {}
    for seed in traced:
        if seed in layer:
            continue
        layer[seed] = 0
        for adj, sign in ((adj_fwd, 1), (adj_back, -1)):
            frontier = [seed]
            while frontier:
                nxt = []
                for n in frontier:
                    for m in adj.get(n, []):
                        if m not in layer:
                            layer[m] = layer[n] + sign
                            nxt.append(m)
                frontier = nxt
    for n in nodes:
        layer.setdefault(n, 0)
    by_layer: dict[int, list[str]] = {}
    for n in nodes:
        by_layer.setdefault(layer[n], []).append(n)
    pos = {}
    for lyr, members in by_layer.items():
        for i, n in enumerate(sorted(members)):
            pos[n] = (lyr, i - (len(members) - 1) / 2)
    ex: list[float | None] = []
    ey: list[float | None] = []
    for s, d in zip(edges[src_col].astype(str), edges[dst_col].astype(str), strict=True):
        ex += [pos[s][0], pos[d][0], None]
        ey += [pos[s][1], pos[d][1], None]
    labels: dict[str, str] = {}
    why: dict[str, str] = {}
    ncrs: dict[str, str] = {}
    if lot_info is not None and not lot_info.empty and "lot_id" in lot_info:
        for row in lot_info.to_dict("records"):
            lot = str(row["lot_id"])
            labels[lot] = " · ".join(str(row[c]) for c in ("material_id", "status") if c in row)
            if row.get("suspect"):
                why[lot] = str(row.get("why_suspect") or "suspect")
            if row.get("ncrs"):
                ncrs[lot] = str(row["ncrs"])
    # Traces as plain dicts, validated once in the figure (add_scatter validated each and the figure again).
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": ex,
            "y": ey,
            "mode": "lines",
            "line": {"color": "#9aa5b1", "width": 1},
            "hoverinfo": "skip",
            "showlegend": False,
        }
    ]

    def hover(lot: str) -> str:
        return "<br>".join(t for t in (lot, labels.get(lot, ""), why.get(lot, ""), ncrs.get(lot, "")) if t)

    def marks(members: list[str], name: str, dy: float = 0.0, **props: Any) -> None:
        """One layer of marks on the lots ``members``, ``dy`` under them, hovering with the lot's facts."""
        if members:
            traces.append(
                {
                    "type": "scatter",
                    "x": [pos[n][0] for n in members],
                    "y": [pos[n][1] - dy for n in members],
                    "name": name,
                    "customdata": [hover(n) for n in members],
                    "hovertemplate": "%{customdata}<extra></extra>",
                    **props,
                }
            )

    marks(
        nodes,
        "lots",
        mode="markers+text",
        showlegend=False,
        text=nodes,
        textposition="top center",
        textfont={"size": 9},
        marker={
            "size": [16 if n in traced else 10 for n in nodes],
            "color": [TRACED_COLOR if n in traced else ACCENT for n in nodes],
        },
    )
    # Legend entries for the two node colours (one trace of all nodes keeps the positions together).
    for name, size, color in (("traced lot", 16, TRACED_COLOR), ("lot", 10, ACCENT)):
        marker = {"size": size, "color": color}
        traces.append(
            {"type": "scatter", "x": [None], "y": [None], "mode": "markers", "name": name, "marker": marker}
        )
    suspects = [n for n in nodes if n in why]
    marks(
        suspects,
        "suspect: on hold, quarantined, rejected, failed inspection or open NCR",
        mode="markers",
        text=suspects,
        marker={"size": 24, "symbol": "circle-open", "color": SUSPECT_COLOR, "line": {"width": 3}},
    )
    with_ncr = [n for n in nodes if n in ncrs]
    marks(
        with_ncr,
        "NCR of the lot: id · severity · status",
        dy=0.32,
        mode="markers+text",
        text=[ncrs[n] for n in with_ncr],
        textposition="bottom center",
        textfont={"size": 9, "color": SUSPECT_COLOR},
        marker={"size": 9, "symbol": "diamond", "color": SUSPECT_COLOR},
    )
    # A lot's NCR label hangs under it: with NCRs a lot needs the room of two labels, or the NCR's text ran
    # into the label of the lot under it.
    per_lot, most = (64, 1600) if with_ncr else (34, 900)
    height = max(300, per_lot * max(len(m) for m in by_layer.values()) + 60)
    layout = _layout(
        height=min(height, most),
        xaxis={"visible": False},
        yaxis={"visible": False},
        showlegend=True,
        # As drawn before: the shared layout's legend place over the one asked for here first.
        legend={"orientation": "h", "y": -0.18, "x": 0, "yanchor": "top"},
    )
    return go.Figure({"data": traces, "layout": layout})


def nan_to_none(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def status_by_category(df: pd.DataFrame, category: str, status: str, value: str) -> dict[str, Any]:
    if df.empty:
        return empty_plain("Nothing open")
    traces = [
        {
            "type": "bar",
            "x": _plain_values(part[category]),
            "y": _plain_values(part[value]),
            "name": str(st),
            "marker": {"color": WO_STATUS_COLORS[str(st)]} if str(st) in WO_STATUS_COLORS else {},
        }
        for st, part in df.groupby(status, sort=False)
    ]
    return {"data": traces, "layout": _layout(barmode="stack", yaxis={"title": {"text": value}})}


def lead_time_chart(df: pd.DataFrame, top: int = 20) -> go.Figure:
    """Planned vs actual lead time per supplier: planned median, actual median, bar to the actual p90."""
    need = ["supplier_id", "median_planned_lead_time_days", "median_actual_lead_time_days"]
    if df.empty or df[need[1:]].dropna(how="all").empty:
        return empty_figure("No purchase order line received yet: no lead time to compare")
    sub = df.dropna(subset=["median_actual_lead_time_days"]).copy()
    sub["gap"] = sub["median_actual_lead_time_days"] - sub["median_planned_lead_time_days"]
    sub = sub.sort_values("gap", ascending=False, na_position="last").head(top)
    ys = list(sub["supplier_id"])
    spread = (sub["p90_actual_lead_time_days"] - sub["median_actual_lead_time_days"]).clip(lower=0)
    traces = [
        {
            "type": "bar",
            "y": ys,
            "base": _plain_values(sub["median_actual_lead_time_days"]),
            "x": _plain_values(spread),
            "orientation": "h",
            "name": "actual median to p90 (spread)",
            "marker": {"color": "rgba(11, 92, 173, 0.25)"},
            "hovertemplate": "%{y}: median %{base:.1f} d, p90 %{x:.1f} d later<extra></extra>",
        },
        {
            "type": "scatter",
            "y": ys,
            "x": _plain_values(sub["median_planned_lead_time_days"]),
            "mode": "markers",
            "name": "planned",
            "marker": {"symbol": "line-ns-open", "size": 16, "color": "#2e7d32", "line": {"width": 3}},
            "hovertemplate": "%{y}: planned %{x:.0f} d<extra></extra>",
        },
        {
            "type": "scatter",
            "y": ys,
            "x": _plain_values(sub["median_actual_lead_time_days"]),
            "mode": "markers",
            "name": "actual median",
            "marker": {"size": 9, "color": ACCENT},
            "hovertemplate": "%{y}: actual median %{x:.1f} d<extra></extra>",
        },
    ]
    layout = _layout(
        barmode="overlay",
        xaxis={"title": {"text": "lead time (days from order to first receipt)"}},
        yaxis={"autorange": "reversed", "tickfont": {"size": 10}},
    )
    # One validated step from plain dicts (add_bar, add_scatter and update_layout validated each).
    return go.Figure({"data": traces, "layout": layout})


def shortage_profile_chart(df: pd.DataFrame) -> go.Figure:
    """Projected balance of each short material by need date (step line); below 0 = short."""
    if df.empty:
        return empty_figure("No material runs short for the open work orders")
    traces = []
    for name, part in df.groupby("series", sort=True):
        traces.append(
            go.Scatter(
                x=part["need_date"],
                y=part["projected_balance"].astype(float),
                mode="lines+markers",
                line={"shape": "hv", "width": 1.6},
                marker={"size": 5},
                name=str(name),
                customdata=part[["wo_id"]].to_numpy(),
                hovertemplate=f"{name}<br>%{{x|%Y-%m-%d}} after %{{customdata[0]}}: "
                "balance %{y:,.1f}<extra></extra>",
            )
        )
    zero = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0, "y1": 0}
    zero["line"] = {"color": "#c62828", "dash": "dot", "width": 1}
    layout = _layout(yaxis={"title": {"text": "projected balance (material uom)"}}, shapes=[zero])
    return go.Figure(data=traces, layout=layout)
