"""Figure builders: plain functions from DataFrames to Plotly figures (no data access here)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

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


def lean(fig: go.Figure | dict[str, Any], revision: str = "keep") -> dict[str, Any]:
    """A figure as the browser needs it: the lean template, and ``uirevision`` so an update keeps the
    user's zoom and legend choices (Plotly.react then redraws only what changed)."""
    plain = fig.to_plotly_json() if isinstance(fig, go.Figure) else dict(fig)
    used = {t.get("type", "scatter") for t in plain.get("data") or []}
    if not used <= set(LEAN_TRACE_TYPES):
        return plain  # a trace type the lean template has no defaults for keeps the full one
    layout = dict(plain.get("layout") or {})
    layout["template"] = LEAN_TEMPLATE
    layout.setdefault("uirevision", revision)
    return {**plain, "layout": layout}


def _base(fig: go.Figure, title: str | None = None, height: int | None = None) -> go.Figure:
    fig.update_layout(_layout(title, height))
    return fig


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 13, "color": "#52606d"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base(fig)


def sparkline(values: list[float | None], color: str = ACCENT) -> go.Figure:
    hidden = {"visible": False}
    return go.Figure(
        data=[
            go.Scatter(
                x=list(range(len(values))),
                y=values,
                mode="lines",
                line={"color": color, "width": 1.6},
                hoverinfo="y",
                connectgaps=True,
            )
        ],
        layout={
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "height": 38,
            "showlegend": False,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "xaxis": hidden,
            "yaxis": hidden,
        },
    )


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


def expiry_horizon_bar(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure("No lots with stock on hand")
    traces = [
        go.Bar(
            x=part["bucket"].astype(str),
            y=part["lots"],
            name=status.replace("_", " "),
            marker_color=STATUS_COLORS[status],
        )
        for status in STATUS_COLORS
        if not (part := df[df["status"] == status]).empty
    ]
    order = [str(c) for c in df["bucket"].cat.categories] if hasattr(df["bucket"], "cat") else None
    layout = _layout(
        barmode="stack",
        yaxis={"title": {"text": "lots"}},
        xaxis={"categoryorder": "array", "categoryarray": order} if order else {},
    )
    return go.Figure(data=traces, layout=layout)


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


def severity_age_bar(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure("No open NCRs at this date")
    fig = go.Figure()
    for sev in ["critical", "major", "minor"]:
        part = df[df["severity"] == sev]
        if part.empty:
            continue
        fig.add_bar(x=part["age_band"], y=part["ncrs"], name=sev, marker_color=SEVERITY_COLORS[sev])
    fig.update_layout(barmode="stack")
    fig.update_xaxes(categoryorder="array", categoryarray=["< 30 d", "30-90 d", ">= 90 d"], title_text="age")
    fig.update_yaxes(title_text="open NCRs")
    return _base(fig)


def pareto(df: pd.DataFrame, category: str, value: str) -> go.Figure:
    if df.empty:
        return empty_figure("No NCRs opened in this window")
    df = df.sort_values(value, ascending=False)
    cum = df[value].cumsum() / df[value].sum() * 100
    fig = go.Figure()
    fig.add_bar(x=df[category], y=df[value], name="NCRs", marker_color=ACCENT)
    fig.add_scatter(
        x=df[category],
        y=cum,
        name="cumulative %",
        yaxis="y2",
        mode="lines+markers",
        line={"color": "#c62828"},
    )
    fig.update_layout(
        yaxis={"title": "NCRs"},
        yaxis2={"title": "cumulative %", "overlaying": "y", "side": "right", "range": [0, 105]},
    )
    return _base(fig)


def gantt(df: pd.DataFrame, as_of: Any = None) -> go.Figure:
    """Operations of open work orders as bars on a time axis, one row per work center."""
    if df.empty:
        return empty_figure("No open work orders")
    colors = {"done": "#9e9e9e", "running": ACCENT, "waiting": "#90caf9", "skipped": "#e0e0e0"}
    fig = go.Figure()
    for status, part in df.groupby("status", sort=False):
        start = pd.to_datetime(part["start"])
        finish = pd.to_datetime(part["finish"])
        fig.add_bar(
            base=start,
            x=(finish - start).dt.total_seconds() * 1000,
            y=part["work_center"],
            orientation="h",
            name=str(status),
            marker_color=colors.get(str(status), "#607d8b"),
            customdata=part[["wo_id", "operation"]].to_numpy(),
            hovertemplate=(
                "%{customdata[0]} · %{customdata[1]}<br>from %{base|%Y-%m-%d %H:%M}<extra></extra>"
            ),
        )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(type="date")
    fig.update_yaxes(autorange="reversed")
    if as_of is not None:
        fig.add_vline(x=pd.Timestamp(as_of).timestamp() * 1000, line_dash="dot", line_color="#c62828")
    return _base(fig)


def simple_bar(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    y_title: str,
    color: str = ACCENT,
    percent: bool = False,
    horizontal: bool = False,
) -> go.Figure:
    if df.empty:
        return empty_figure("No data in this window")
    values = df[y].astype(float) * (100 if percent else 1)
    if horizontal:
        fig = go.Figure(go.Bar(y=df[x], x=values, orientation="h", marker_color=color))
        fig.update_yaxes(autorange="reversed")
        fig.update_xaxes(title_text=y_title + (" (%)" if percent else ""))
    else:
        fig = go.Figure(go.Bar(x=df[x], y=values, marker_color=color))
        fig.update_yaxes(title_text=y_title + (" (%)" if percent else ""))
    return _base(fig)


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
    fig = go.Figure()
    fig.add_scatter(
        x=ex,
        y=ey,
        mode="lines",
        line={"color": "#9aa5b1", "width": 1},
        hoverinfo="skip",
        showlegend=False,
    )

    def hover(lot: str) -> str:
        return "<br>".join(t for t in (lot, labels.get(lot, ""), why.get(lot, ""), ncrs.get(lot, "")) if t)

    def marks(members: list[str], name: str, dy: float = 0.0, **props: Any) -> None:
        """One layer of marks on the lots ``members``, ``dy`` under them, hovering with the lot's facts."""
        if members:
            fig.add_scatter(
                x=[pos[n][0] for n in members],
                y=[pos[n][1] - dy for n in members],
                name=name,
                customdata=[hover(n) for n in members],
                hovertemplate="%{customdata}<extra></extra>",
                **props,
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
        fig.add_scatter(x=[None], y=[None], mode="markers", name=name, marker={"size": size, "color": color})
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
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.02, "yanchor": "top"})
    # A lot's NCR label hangs under it: with NCRs a lot needs the room of two labels, or the NCR's text ran
    # into the label of the lot under it.
    per_lot, most = (64, 1600) if with_ncr else (34, 900)
    height = max(300, per_lot * max(len(m) for m in by_layer.values()) + 60)
    return _base(fig, height=min(height, most))


def nan_to_none(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def status_by_category(df: pd.DataFrame, category: str, status: str, value: str) -> go.Figure:
    if df.empty:
        return empty_figure("Nothing open")
    colors = {"done": "#9e9e9e", "running": ACCENT, "waiting": "#90caf9", "skipped": "#e0e0e0"}
    fig = go.Figure()
    for st, part in df.groupby(status, sort=False):
        fig.add_bar(x=part[category], y=part[value], name=str(st), marker_color=colors.get(str(st)))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text=value)
    return _base(fig)


def lead_time_chart(df: pd.DataFrame, top: int = 20) -> go.Figure:
    """Planned vs actual lead time per supplier: planned median, actual median, bar to the actual p90."""
    need = ["supplier_id", "median_planned_lead_time_days", "median_actual_lead_time_days"]
    if df.empty or df[need[1:]].dropna(how="all").empty:
        return empty_figure("No purchase order line received yet: no lead time to compare")
    sub = df.dropna(subset=["median_actual_lead_time_days"]).copy()
    sub["gap"] = sub["median_actual_lead_time_days"] - sub["median_planned_lead_time_days"]
    sub = sub.sort_values("gap", ascending=False, na_position="last").head(top)
    ys = list(sub["supplier_id"])
    fig = go.Figure()
    fig.add_bar(
        y=ys,
        base=sub["median_actual_lead_time_days"],
        x=(sub["p90_actual_lead_time_days"] - sub["median_actual_lead_time_days"]).clip(lower=0),
        orientation="h",
        name="actual median to p90 (spread)",
        marker_color="rgba(11, 92, 173, 0.25)",
        hovertemplate="%{y}: median %{base:.1f} d, p90 %{x:.1f} d later<extra></extra>",
    )
    fig.add_scatter(
        y=ys,
        x=sub["median_planned_lead_time_days"],
        mode="markers",
        name="planned",
        marker={"symbol": "line-ns-open", "size": 16, "color": "#2e7d32", "line": {"width": 3}},
        hovertemplate="%{y}: planned %{x:.0f} d<extra></extra>",
    )
    fig.add_scatter(
        y=ys,
        x=sub["median_actual_lead_time_days"],
        mode="markers",
        name="actual median",
        marker={"size": 9, "color": ACCENT},
        hovertemplate="%{y}: actual median %{x:.1f} d<extra></extra>",
    )
    fig = _base(fig)
    fig.update_layout(
        barmode="overlay",
        xaxis_title_text="lead time (days from order to first receipt)",
        yaxis={"autorange": "reversed", "tickfont": {"size": 10}},
    )
    return fig


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
