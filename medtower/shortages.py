"""Every net requirement of the planning marts, one row each, with what it hits and what could cover it.

Read by `medtower shortages`. The rows are ``marts.fct_shortages`` (root causes only, classed ``exception``
inside the lead time and ``action`` beyond it, kpi-definitions.md "Shortages"), with the work orders and
customer order lines pegged to each (``marts.fct_shortage_pegging``) and the potential supply of the material
at the site (``marts.fct_potential_supply``: lots a QA decision could free).

The planning marts are a point-in-time picture: they answer for the as-of date they were built for, and any
other date is refused with the command that rebuilds for it, never answered from another day's netting.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from medtower.kpis import check_site


class ShortagesAsOfError(ValueError):
    """The planning marts were built for another as-of date than the one asked for."""


def planning_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The as-of date the planning marts were built for (None for an empty plant)."""
    row = con.execute(
        "select max(as_of_date) from (select as_of_date from marts.fct_projected_balance"
        " union all select as_of_date from marts.fct_inventory_by_lot)"
    ).fetchone()
    value = row[0] if row else None
    return value.date() if isinstance(value, dt.datetime) else value


def list_shortages(
    con: duckdb.DuckDBPyConnection, as_of: dt.date | None = None, site: str | None = None
) -> dict[str, Any]:
    """``{"as_of", "site", "shortages": [...]}``, exceptions first, then by need date."""
    check_site(con, site)
    built = planning_as_of(con)
    if as_of is not None and built is not None and as_of != built:
        raise ShortagesAsOfError(
            f"the planning marts were built as of {built.isoformat()}, not {as_of.isoformat()}: netting is a "
            f"picture of one day. Rebuild for {as_of.isoformat()} with `medtower run DROP_DIR --as-of "
            f"{as_of.isoformat()}`, or ask for --as-of {built.isoformat()}."
        )
    params: list[Any] = [] if site is None else [site]
    where = "" if site is None else "where s.site_id = ?"
    cur = con.execute(
        f"""select s.shortage_id, s.material_id, m.description as material_description, m.uom, s.site_id,
                   s.need_date, s.shortage_qty, s.kind, s.order_by, s.lead_time_days, s.replenishment,
                   s.demand_type, s.wo_id, s.so_id, s.so_line, s.customer_id
            from marts.fct_shortages as s
            left join marts.dim_materials as m on m.material_id = s.material_id
            {where}
            order by case s.kind when 'exception' then 0 else 1 end, s.need_date, s.material_id, s.site_id,
                     s.shortage_id""",
        params,
    )
    cols = [c[0] for c in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    pegs: dict[str, list[tuple[Any, ...]]] = {}
    for r in con.execute(
        f"""select p.shortage_id, p.peg_level, p.hit_type, p.wo_id, p.so_id, p.so_line, p.customer_id
        from marts.fct_shortage_pegging as p
        {"where p.site_id = ?" if site else ""}
        order by p.shortage_id, p.peg_level, p.wo_id, p.so_id, p.so_line""",
        params,
    ).fetchall():
        pegs.setdefault(r[0], []).append(r)
    potential: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in con.execute(
        f"""select material_id, site_id, lot_id, lot_status, qty, blocked_by, pending_inspection_ids,
                   open_ncr_ids, hold_reason, expiry_date
        from marts.fct_potential_supply {"where site_id = ?" if site else ""}
        order by material_id, site_id, lot_id""",
        params,
    ).fetchall():
        potential.setdefault((r[0], r[1]), []).append(
            {
                "lot_id": r[2],
                "lot": r[2],  # the field name for the same id
                "status": r[3],
                "qty": r[4],
                "blocked_by": r[5],
                "pending_inspections": r[6],
                "open_ncrs": r[7],
                "hold_reason": r[8],
                "expiry_date": r[9].isoformat() if r[9] else None,
            }
        )
    out = []
    for row in rows:
        hits = pegs.get(row["shortage_id"], [])
        row["need_date"] = row["need_date"].isoformat()
        row["order_by"] = row["order_by"].isoformat() if row["order_by"] else None
        row["shortage_qty"] = float(row["shortage_qty"])
        row["work_orders"] = [h[3] for h in hits if h[2] == "work_order"]
        row["customer_orders"] = [
            {"so_id": h[4], "so_line": h[5], "customer_id": h[6], "peg_level": h[1]}
            for h in hits
            if h[2] == "sales_order_line"
        ]
        row["potential_supply"] = potential.get((row["material_id"], row["site_id"]), [])
        out.append(row)
    day = as_of or built
    return {
        "as_of": day.isoformat() if day else None,
        "site": site,
        "shortages": out,
    }
