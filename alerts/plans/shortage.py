"""Shortage plan: what to do about one root-cause shortage (a material at a site, inside its lead time).

Every number in the plan comes from one allocation (``allocate``), so the sections agree with each other:

- the demand of the material at the site inside the lead-time fence (``fct_projected_balance``: work order
  component needs and sales order lines with netting date <= as-of + lead time) is served in priority order:
  demand pegged to a customer order first (``fct_work_order_pegging``; earliest customer due date first), then
  the rest by need date;
- from the levers in the order a planner pulls them: stock available now (released, unexpired lots, less
  what expires before the need), then potential supply a QA decision can free (``fct_potential_supply``: lots
  on hold or in quarantine, pending inspection before NCR-blocked), then approved substitutes validated for
  the product the work order makes (``fct_substitute_availability``: free stock that keeps the substitute
  itself covered within its own lead time), then open supply at its expected date (PO lines at due date +
  the supplier's median delay; open work orders making the material at planned end);
- each demand is covered by the first lever with quantity left; what no lever covers waits.

The sections then read the allocation: what is hit, lots to ask QA about and what each would free,
substitutes and what they free, suppliers to contact (a drafted expedite request, flagged when the earliest
supply arrives after the need), the re-forecast of arrivals, the re-sequenced work orders with the customer
orders still at risk after each lever, and the recovery date (the day expected supply covers the last
demand of the fence).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import duckdb

from alerts.plans.common import (
    Loaded,
    _date,
    _num,
    _rows,
    _section,
    id_list,
    keyed_rows,
    keys_source,
    percentile,
)
from alerts.state import Instance

log = logging.getLogger(__name__)

LEVERS = ("stock", "potential", "substitute", "substitute_qa", "supply")
LEVER_LABELS = {
    "stock": "stock available now",
    "potential": "a QA decision on a blocked lot",
    "substitute": "an approved substitute",
    "substitute_qa": "a QA decision on a blocked substitute lot",
    "supply": "open supply at its expected date",
}
# Levers that are a substitute: used only where the substitution is validated for what the demand makes.
SUBSTITUTE_LEVERS = ("substitute", "substitute_qa")
# Order in which QA is asked about blocked lots: the quickest decisions first.
BLOCKED_ORDER = {
    "inspection pending": 0,
    "in quarantine": 1,
    "on hold": 2,
    "nonconformance open": 3,
    "critical nonconformance open": 4,
}


def supplier_delays(con: duckdb.DuckDBPyConnection, supplier_id: str, material_id: str) -> dict[str, Any]:
    """Median and p90 delay (days late against the planned lead time) and which history they come from."""
    return supplier_delays_for(con, [(supplier_id, material_id)])[(supplier_id, material_id)]


def supplier_delays_for(
    con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """``supplier_delays`` of many (supplier, material) pairs: two queries, whatever their number."""
    pairs = sorted(set(pairs), key=lambda p: (str(p[0]), str(p[1])))
    if not pairs:
        return {}
    keys, params = keys_source(
        supplier_id=("varchar", [p[0] for p in pairs]), material_id=("varchar", [p[1] for p in pairs])
    )
    stats = {
        (r[0], r[1]): r[2:]
        for r in con.execute(
            f"""select s.supplier_id, s.material_id, s.median_delay_days, s.p90_delay_days,
                   s.n_receipts_with_plan
            from marts.fct_supplier_lead_time_stats as s
            join {keys} as k on k.supplier_id = s.supplier_id and k.material_id = s.material_id
            where s.n_receipts_with_plan > 0""",
            params,
        ).fetchall()
    }
    need_all = sorted({s for s, m in pairs if s is not None and (stats.get((s, m)) or (None,))[0] is None})
    deltas: dict[str, list[float]] = {}
    if need_all:
        for supplier, delta in con.execute(
            """select supplier_id, lead_time_delta_days from marts.fct_purchase_order_lines
            where supplier_id in (select unnest(?::varchar[])) and first_receipt_date is not null
              and not is_cancelled and lead_time_delta_days is not null""",
            [need_all],
        ).fetchall():
            deltas.setdefault(supplier, []).append(float(delta))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for supplier_id, material_id in pairs:
        pair = stats.get((supplier_id, material_id))
        if pair and pair[0] is not None:
            out[(supplier_id, material_id)] = {
                "median": float(pair[0]),
                "p90": float(pair[1]),
                "n": int(pair[2]),
                "basis": f"{supplier_id} on {material_id}, {int(pair[2])} receipts",
            }
            continue
        mine = deltas.get(supplier_id, [])
        if mine:
            out[(supplier_id, material_id)] = {
                "median": percentile(mine, 0.5),
                "p90": percentile(mine, 0.9),
                "n": len(mine),
                "basis": f"{supplier_id} on all materials, {len(mine)} receipts (none of {material_id})",
            }
            continue
        out[(supplier_id, material_id)] = {
            "median": 0.0,
            "p90": 0.0,
            "n": 0,
            "basis": f"no receipt history for {supplier_id}: due date",
        }
    return out


@dataclass
class Demand:
    """One demand of the fence: a work order's component need or a sales order line."""

    ref: str  # wo_id, or "so_id/so_line"
    kind: str  # work_order | sales_order
    need_date: dt.date
    qty: float
    makes: str | None = None  # what the work order makes (substitutes are validated per product)
    customer_orders: list[str] = field(default_factory=list)  # "SO/line (customer)"
    first_customer_due: dt.date | None = None
    short_in_netting: float = 0.0  # its net requirement in fct_shortages (0 when covered)
    covered_by: list[dict[str, Any]] = field(default_factory=list)  # [{lever, source, qty, date}]

    @property
    def left(self) -> float:
        return self.qty - sum(c["qty"] for c in self.covered_by)

    def covered_from(self) -> dt.date | None:
        if self.left > 1e-9:
            return None
        return max(c["date"] for c in self.covered_by) if self.covered_by else None


@dataclass
class Pool:
    lever: str
    source: str  # lot id, substitute material, "PO x line y", work order
    qty: float
    date: dt.date  # when it can be used
    detail: dict[str, Any]
    valid_for: str | None = None  # substitutes: the product it is validated for (None = every parent)


def expected_supply(
    con: duckdb.DuckDBPyConnection, material: str, site: str, as_of: dt.date
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Open PO lines with their expected arrival (due + supplier's median / p90 delay) and ASN."""
    return expected_supply_for(con, [(material, site)], as_of).get((material, site), ([], {}))


def expected_supply_for(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str]], as_of: dt.date
) -> dict[tuple[str, str], tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]]:
    """``expected_supply`` of many (material, site) keys: the open PO lines in one query."""
    source, params = keys_source(
        material_id=("varchar", [k[0] for k in keys]), site_id=("varchar", [k[1] for k in keys])
    )
    lines = keyed_rows(
        con,
        f"""
        select k.material_id as _k_material, k.site_id as _k_site,
               p.po_id, p.po_line, p.supplier_id, s.name as supplier, s.contact_email, p.qty_open,
               p.due_date, p.is_past_due_at_as_of as past_due, a.asn_id, a.expected_delivery as asn_expected
        from marts.fct_purchase_order_lines as p
        join {source} as k on k.material_id = p.material_id and k.site_id = p.site_id
        left join marts.dim_suppliers as s on s.supplier_id = p.supplier_id
        left join (
            select po_id, po_line, string_agg(distinct asn_id, ', ') as asn_id,
                   max(expected_delivery) as expected_delivery
            from marts.fct_asn_lines group by po_id, po_line
        ) as a on a.po_id = p.po_id and a.po_line = p.po_line
        where p.is_open_at_as_of and p.qty_open > 0
        order by k.material_id, k.site_id, p.due_date, p.po_id, p.po_line""",
        params,
    )
    history = supplier_delays_for(
        con, [(r["supplier_id"], m) for (m, _), rows in lines.items() for r in rows]
    )
    out: dict[tuple[str, str], tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]] = {}
    for (material, site), rows in lines.items():
        delays: dict[str, dict[str, Any]] = {}
        for r in rows:
            sup = r["supplier_id"]
            if sup not in delays:
                delays[sup] = history[(sup, material)]
            h = delays[sup]
            due = max(_date(r["due_date"]) or as_of, as_of)
            r["median_delay_days"] = h["median"]
            r["p90_delay_days"] = h["p90"]
            r["history"] = h["basis"]
            r["expected_p50"] = (due + dt.timedelta(days=max(math.ceil(h["median"]), 0))).isoformat()
            r["expected_p90"] = (due + dt.timedelta(days=max(math.ceil(h["p90"]), 0))).isoformat()
        out[(material, site)] = (rows, delays)
    return out


def allocate(demands: list[Demand], pools: list[Pool]) -> None:
    """Cover each demand, in the order given, from the first pool (in order) with quantity left.

    A pool is usable for a demand when it is a substitute validated for what the demand makes (or for every
    parent; never for a sales order line of the material itself). Supply that arrives after the need still
    covers it, late: the demand's ``covered_from`` date says when it can run.
    """
    left = {id(p): p.qty for p in pools}
    for d in demands:
        for p in pools:
            if d.left <= 1e-9:
                break
            if left[id(p)] <= 1e-9:
                continue
            if p.lever in SUBSTITUTE_LEVERS and (
                d.kind != "work_order" or (p.valid_for is not None and p.valid_for != d.makes)
            ):
                continue
            take = min(left[id(p)], d.left)
            left[id(p)] -= take
            d.covered_by.append({"lever": p.lever, "source": p.source, "qty": take, "date": p.date})


@dataclass
class _Inputs:
    """What one shortage plan reads, cut from the batch's set-based queries."""

    exceptions: list[dict[str, Any]]
    lead: int
    horizon: dt.date
    first_need: dt.date | None
    events: list[dict[str, Any]] = field(default_factory=list)
    pegs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    potential: list[dict[str, Any]] = field(default_factory=list)
    substitutes: list[dict[str, Any]] = field(default_factory=list)
    substitute_lots: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    arrivals: list[dict[str, Any]] = field(default_factory=list)
    delays: dict[str, dict[str, Any]] = field(default_factory=dict)
    hit_rows: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    approved: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, Exception] = field(default_factory=dict)


def _load_inputs(con: duckdb.DuckDBPyConnection, insts: list[Instance], as_of: dt.date) -> dict[str, _Inputs]:
    """Every input of every plan of the batch: one query per lever, joined on the alerts' keys.

    A lever whose mart is missing or fails is left out of every plan's allocation and its sections say why
    (as each plan did on its own); the demand (exceptions, projected balance, pegging) fails the batch.
    """
    pairs = sorted({(i.labels["material_id"], i.labels["site_id"]) for i in insts})
    source, params = keys_source(
        material_id=("varchar", [m for m, _ in pairs]), site_id=("varchar", [s for _, s in pairs])
    )
    exceptions = keyed_rows(
        con,
        f"""select k.material_id as _k_material, k.site_id as _k_site,
                  s.need_date, s.shortage_qty, s.demand_type, s.wo_id, s.so_id, s.so_line,
                  s.customer_id, s.lead_time_days, s.replenishment
        from marts.fct_shortages as s
        join {source} as k on k.material_id = s.material_id and k.site_id = s.site_id
        where s.kind = 'exception'
        order by k.material_id, k.site_id, s.event_seq""",
        params,
    )
    out: dict[str, _Inputs] = {}
    for inst in insts:
        mine = exceptions.get((inst.labels["material_id"], inst.labels["site_id"]), [])
        d = inst.details
        lead = int(mine[0]["lead_time_days"]) if mine else int(d.get("lead_time_days") or 0)
        need_dates = [n for n in (_date(e["need_date"]) for e in mine) if n is not None]
        out[inst.key] = _Inputs(
            exceptions=mine,
            lead=lead,
            horizon=as_of + dt.timedelta(days=lead),
            first_need=min(need_dates, default=_date(d.get("need_date"))),
        )
    # Per material and site: the fence's end and the day expiry and substitutes are judged on. Two alerts
    # of one material and site (another rule) share the first one's.
    frames: dict[tuple[str, str], _Inputs] = {}
    for inst in insts:
        frames.setdefault((inst.labels["material_id"], inst.labels["site_id"]), out[inst.key])
    keys = sorted(frames)
    frame, frame_params = keys_source(
        material_id=("varchar", [m for m, _ in keys]),
        site_id=("varchar", [s for _, s in keys]),
        horizon=("date", [frames[k].horizon for k in keys]),
        day=("date", [frames[k].first_need or as_of for k in keys]),
    )
    events = keyed_rows(
        con,
        f"""select k.material_id as _k_material, k.site_id as _k_site,
                  b.event_type, b.event_date, b.netting_date, b.demand_qty, b.supply_qty, b.expiring_qty,
                  b.wo_id, b.so_id, b.so_line, b.customer_id, b.lot_id, w.material_id as makes
        from marts.fct_projected_balance as b
        join {frame} as k on k.material_id = b.material_id and k.site_id = b.site_id
        left join marts.fct_work_orders as w on w.wo_id = b.wo_id
        where b.netting_date <= k.horizon
        order by k.material_id, k.site_id, b.event_seq""",
        frame_params,
    )
    wo_ids = sorted(
        {e["wo_id"] for rows in events.values() for e in rows if e["event_type"] == "work_order_component"}
    )
    pegs: dict[str, list[dict[str, Any]]] = {}
    if wo_ids:
        for r in _rows(
            con,
            """select root_wo_id, so_id, so_line, customer_id, so_due_date
            from marts.fct_work_order_pegging
            where hit_type = 'sales_order_line' and root_wo_id in (select unnest(?))
            order by so_due_date, so_id, so_line""",
            [wo_ids],
        ):
            pegs.setdefault(r["root_wo_id"], []).append(r)
    potential_sql = """select {key}
              p.lot_id, p.material_id, p.lot_status, p.qty, p.expiry_date, p.pending_inspection_ids,
              p.open_ncr_ids, p.worst_ncr_severity, p.hold_reason, p.blocked_by
        from marts.fct_potential_supply as p
        join {frame} as k on k.material_id = p.material_id and k.site_id = p.site_id
        where p.expiry_date is null or p.expiry_date > k.day"""
    potential = Loaded(
        lambda: keyed_rows(
            con,
            potential_sql.format(key="k.material_id as _k_material, k.site_id as _k_site,", frame=frame),
            frame_params,
        ),
        {},
    )
    substitutes = Loaded(
        lambda: keyed_rows(
            con,
            f"""select k.material_id as _k_material, k.site_id as _k_site,
                  sa.substitute_material_id, m.description, sa.parent_material_id, sa.priority,
                  sa.change_id, sa.change_status, sa.valid_from, sa.valid_to, sa.available_qty,
                  sa.available_after_other_demand as free_qty, sa.earliest_expiry_date
            from marts.fct_substitute_availability as sa
            join {source} as k on k.material_id = sa.material_id and k.site_id = sa.site_id
            left join marts.dim_materials as m on m.material_id = sa.substitute_material_id
            order by k.material_id, k.site_id, sa.priority, sa.substitute_material_id,
                     sa.parent_material_id""",
            params,
        ),
        {},
    )
    # Blocked lots of the substitutes in force on each plan's need date, in one query.
    wanted: set[tuple[str, str, dt.date]] = set()
    for (material, site), f in frames.items():
        day = f.first_need or as_of
        for s in substitutes.get((material, site), []):
            if _in_force(s, day):
                wanted.add((s["substitute_material_id"], site, day))
    substitute_lots = Loaded(lambda: {}, {})
    if wanted and potential.error is None:
        subs = sorted(wanted)
        sub_frame, sub_params = keys_source(
            material_id=("varchar", [w[0] for w in subs]),
            site_id=("varchar", [w[1] for w in subs]),
            day=("date", [w[2] for w in subs]),
        )
        substitute_lots = Loaded(
            lambda: keyed_rows(
                con,
                potential_sql.format(
                    key="k.material_id as _k_material, k.site_id as _k_site, k.day as _k_day,",
                    frame=sub_frame,
                ),
                sub_params,
            ),
            {},
        )
    elif wanted:
        substitute_lots = potential
    supply = Loaded(lambda: expected_supply_for(con, pairs, as_of), {})
    hit = Loaded(
        lambda: keyed_rows(
            con,
            f"""
            select k.material_id as _k_material, k.site_id as _k_site,
                   s.need_date, s.shortage_qty, s.demand_type, s.wo_id, w.material_id as makes,
                   s.so_id, s.so_line, s.customer_id,
                   coalesce(p.customer_lines, 0) as customer_lines, p.parent_work_orders
            from marts.fct_shortages as s
            join {source} as k on k.material_id = s.material_id and k.site_id = s.site_id
            left join marts.fct_work_orders as w on w.wo_id = s.wo_id
            left join (
                select shortage_id,
                       count(distinct so_id || '/' || cast(so_line as varchar))
                           filter (where hit_type = 'sales_order_line') as customer_lines,
                       string_agg(distinct wo_id, ', ' order by wo_id)
                           filter (where hit_type = 'work_order' and peg_level > 1) as parent_work_orders
                from marts.fct_shortage_pegging
                group by shortage_id
            ) as p on p.shortage_id = s.shortage_id
            where s.kind = 'exception'
            order by k.material_id, k.site_id, s.event_seq""",
            params,
        ),
        {},
    )
    orders = Loaded(
        lambda: keyed_rows(
            con,
            f"""select distinct k.material_id as _k_material, k.site_id as _k_site,
                   p.so_id, p.so_line, p.customer_id, c.name as customer, p.so_due_date
            from marts.fct_shortage_pegging as p
            join marts.fct_shortages as s on s.shortage_id = p.shortage_id
            join {source} as k on k.material_id = s.material_id and k.site_id = s.site_id
            left join marts.dim_customers as c on c.customer_id = p.customer_id
            where s.kind = 'exception' and p.hit_type = 'sales_order_line'
            order by k.material_id, k.site_id, p.so_due_date, p.so_id, p.so_line""",
            params,
        ),
        {},
    )
    approved = Loaded(
        lambda: keyed_rows(
            con,
            """select a.material_id as _k_material,
                   a.supplier_id, a.supplier_name as supplier, a.planned_lead_time_days, a.contact_email
            from marts.dim_approved_suppliers as a
            where a.material_id in (select unnest(?::varchar[])) and a.is_orderable
            order by a.material_id, a.planned_lead_time_days, a.supplier_id""",
            [sorted({m for m, _ in pairs})],
        ),
        {},
    )
    for inst in insts:
        key = (inst.labels["material_id"], inst.labels["site_id"])
        inp = out[inst.key]
        # Each plan gets its own copies: the assembly writes into its rows.
        inp.events = [dict(e) for e in events.get(key, [])]
        inp.pegs = pegs
        inp.potential = [dict(r) for r in potential.get(key, [])]
        inp.substitutes = [dict(r) for r in substitutes.get(key, [])]
        on = (frames[key].first_need or as_of).isoformat()
        inp.substitute_lots = {
            (s["substitute_material_id"], key[1]): [
                dict(r) for r in substitute_lots.get((s["substitute_material_id"], key[1], on), [])
            ]
            for s in inp.substitutes
        }
        rows, delays = supply.get(key, ([], {}))
        inp.arrivals, inp.delays = [dict(r) for r in rows], dict(delays)
        inp.hit_rows = [dict(r) for r in hit.get(key, [])]
        inp.orders = [dict(r) for r in orders.get(key, [])]
        inp.approved = [dict(r) for r in approved.get((key[0],), [])]
        for section, loaded in (
            ("potential_supply", potential),
            ("substitutes", substitutes),
            ("suppliers", supply),
            ("reforecast", supply),
            ("hit", hit),
            ("hit", orders),
            ("approved", approved),
        ):
            if loaded.error is not None:
                inp.errors.setdefault(section, loaded.error)
        if substitute_lots.error is not None and any(
            _in_force(s, inp.first_need or as_of) for s in inp.substitutes
        ):
            inp.errors.setdefault("potential_supply", substitute_lots.error)
    return out


def _in_force(s: dict[str, Any], day: dt.date) -> bool:
    valid_from, valid_to = _date(s["valid_from"]), _date(s["valid_to"])
    return (valid_from is None or valid_from <= day) and (valid_to is None or valid_to >= day)


def shortage_plan(con: duckdb.DuckDBPyConnection, inst: Instance, as_of: dt.date) -> dict[str, Any]:
    """The plan of one shortage alert (``shortage_plans`` of a batch of one)."""
    plan = shortage_plans(con, [inst], as_of)[inst.key]
    if isinstance(plan, Exception):
        raise plan
    return plan


def shortage_plans(
    con: duckdb.DuckDBPyConnection, insts: list[Instance], as_of: dt.date
) -> dict[str, dict[str, Any] | Exception]:
    """The plans of many shortage alerts: each lever's inputs in one query for all, each plan assembled here.

    An alert whose own assembly fails gets its exception (the engine turns it into an error plan).
    """
    if not insts:
        return {}
    inputs = _load_inputs(con, insts, as_of)
    out: dict[str, dict[str, Any] | Exception] = {}
    for inst in insts:
        try:
            out[inst.key] = _assemble(inst, as_of, inputs[inst.key])
        except Exception as exc:
            log.exception("shortage plan for %s failed", inst.key)
            out[inst.key] = exc
    return out


def _assemble(inst: Instance, as_of: dt.date, inp: _Inputs) -> dict[str, Any]:
    material, site = inst.labels["material_id"], inst.labels["site_id"]
    d = inst.details
    uom = d.get("uom") or ""
    plan: dict[str, Any] = {"kind": "shortage", "sections": [], "data": {}}
    exceptions = inp.exceptions
    lead, horizon, first_need = inp.lead, inp.horizon, inp.first_need
    total_short = sum(float(e["shortage_qty"]) for e in exceptions)
    plan["summary"] = (
        f"{material} ({d.get('material_description') or 'no description'}) at {site}: "
        f"{_num(total_short)} {uom} short from {first_need} within its {lead}-day lead time "
        f"({len(exceptions)} needs not covered by stock and firm supply)."
    )
    short_by_ref = {
        (e["wo_id"] if e["demand_type"] == "work_order" else f"{e['so_id']}/{e['so_line']}"): float(
            e["shortage_qty"]
        )
        for e in exceptions
    }

    # --- the demand of the fence, with what each work order is for -------------------------------
    events = inp.events
    pegs = inp.pegs
    demands: list[Demand] = []
    for e in events:
        if e["event_type"] == "work_order_component":
            mine = pegs.get(e["wo_id"], [])
            demands.append(
                Demand(
                    ref=e["wo_id"],
                    kind="work_order",
                    need_date=_date(e["event_date"]) or as_of,
                    qty=float(e["demand_qty"]),
                    makes=e["makes"],
                    customer_orders=[f"{p['so_id']}/{p['so_line']} ({p['customer_id']})" for p in mine],
                    first_customer_due=min(
                        (due for due in (_date(p["so_due_date"]) for p in mine) if due is not None),
                        default=None,
                    ),
                    short_in_netting=short_by_ref.get(e["wo_id"], 0.0),
                )
            )
        elif e["event_type"] == "sales_order_line":
            ref = f"{e['so_id']}/{e['so_line']}"
            demands.append(
                Demand(
                    ref=ref,
                    kind="sales_order",
                    need_date=_date(e["event_date"]) or as_of,
                    qty=float(e["demand_qty"]),
                    customer_orders=[f"{ref} ({e['customer_id']})"],
                    first_customer_due=_date(e["event_date"]),
                    short_in_netting=short_by_ref.get(ref, 0.0),
                )
            )
    # Customer orders first (earliest customer due date), then the rest, each by need date.
    demands.sort(
        key=lambda x: (
            0 if x.customer_orders else 1,
            x.first_customer_due or dt.date.max,
            x.need_date,
            x.ref,
        )
    )

    # --- the levers, as pools --------------------------------------------------------------------
    stock_now = sum(float(e["supply_qty"]) for e in events if e["event_type"] in ("lot", "stock")) - sum(
        float(e["expiring_qty"]) for e in events if e["event_type"] == "lot_expiry"
    )
    pools: list[Pool] = []
    if stock_now > 0:
        pools.append(Pool("stock", "stock", stock_now, as_of, {}))
    # A lever whose mart is missing or fails is left out of the allocation and its section says why; the
    # rest of the plan stands.
    load_errors = inp.errors
    potential = inp.potential
    potential.sort(key=lambda r: (BLOCKED_ORDER.get(r["blocked_by"], 9), -float(r["qty"]), r["lot_id"]))
    for r in potential:
        pools.append(Pool("potential", r["lot_id"], float(r["qty"]), as_of, r))
    substitutes = inp.substitutes
    for s in substitutes:
        valid_from = _date(s["valid_from"])
        s["valid_on_need_date"] = _in_force(s, first_need or as_of)
        if s["valid_on_need_date"] and float(s["free_qty"] or 0) > 0:
            pools.append(
                Pool(
                    "substitute",
                    s["substitute_material_id"],
                    float(s["free_qty"]),
                    max(as_of, valid_from or as_of),
                    s,
                    valid_for=s["parent_material_id"],
                )
            )
    # Blocked lots of the substitutes in force: a QA decision frees them for the products they are validated
    # for.
    substitute_potential: list[dict[str, Any]] = []
    for s in substitutes:
        if not s["valid_on_need_date"]:
            continue
        # A copy per substitute row: one substitute validated for two products is offered twice.
        lots = [dict(r) for r in inp.substitute_lots.get((s["substitute_material_id"], site), [])]
        lots.sort(key=lambda r: (BLOCKED_ORDER.get(r["blocked_by"], 9), -float(r["qty"]), r["lot_id"]))
        for r in lots:
            r["substitute_for"] = material
            r["validated_for"] = s["parent_material_id"]
            substitute_potential.append(r)
            pools.append(
                Pool(
                    "substitute_qa",
                    r["lot_id"],
                    float(r["qty"]),
                    max(as_of, _date(s["valid_from"]) or as_of),
                    r,
                    valid_for=s["parent_material_id"],
                )
            )
    arrivals, delays = inp.arrivals, inp.delays
    outputs = [
        e for e in events if e["event_type"] == "work_order_output" and float(e["supply_qty"] or 0) > 0
    ]
    later: list[Pool] = [
        Pool(
            "supply",
            f"PO {a['po_id']} line {a['po_line']}",
            float(a["qty_open"]),
            _date(a["expected_p50"]) or as_of,
            a,
        )
        for a in arrivals
    ] + [
        Pool(
            "supply",
            f"work order {o['wo_id']}",
            float(o["supply_qty"]),
            max(_date(o["event_date"]) or as_of, as_of),
            o,
        )
        for o in outputs
    ]
    later.sort(key=lambda p: (p.date, p.source))
    pools += later
    allocate(demands, pools)

    def freed_by(lever: str, source: str) -> list[Demand]:
        return [
            x for x in demands if any(c["lever"] == lever and c["source"] == source for c in x.covered_by)
        ]

    def at_risk_after(levers: tuple[str, ...]) -> list[str]:
        """Customer order lines of demand not fully covered, on time, by the given levers."""
        out: list[str] = []
        for x in demands:
            got = sum(c["qty"] for c in x.covered_by if c["lever"] in levers and c["date"] <= x.need_date)
            if got < x.qty - 1e-9:
                out += [o for o in x.customer_orders if o not in out]
        return out

    # --- sections --------------------------------------------------------------------------------
    def hit() -> tuple[list[str], list[dict]]:
        if "hit" in load_errors:
            raise load_errors["hit"]
        rows, orders = inp.hit_rows, inp.orders
        plan["data"]["customer_orders_hit"] = orders
        wos = [r["wo_id"] for r in rows if r["wo_id"]]
        customers = sorted({o["customer_id"] for o in orders})
        return [
            f"{_num(total_short)} {uom} of {material} at {site} are not covered by stock and firm supply "
            f"between {first_need} and the end of its {lead}-day lead time ({horizon}).",
            f"Work orders short ({len(wos)}): {id_list(wos)}.",
            f"Customer order lines at risk by pegging ({len(orders)}, {len(customers)} customers): "
            + (
                id_list([f"{o['so_id']}/{o['so_line']}" for o in orders])
                if orders
                else "none (made to stock)"
            )
            + ".",
        ], rows

    def potential_supply() -> tuple[list[str], list[dict]]:
        if "potential_supply" in load_errors:
            raise load_errors["potential_supply"]
        lines = []
        for r in potential:
            freed = freed_by("potential", r["lot_id"])
            why = r["blocked_by"]
            if r["pending_inspection_ids"]:
                why += f" ({r['pending_inspection_ids']})"
            if r["open_ncr_ids"]:
                why += f", NCR {r['open_ncr_ids']}"
            if r["hold_reason"]:
                why += f": {r['hold_reason']}"
            r["covers"] = ", ".join(x.ref for x in freed)
            lines.append(
                f"Ask QA to decide lot {r['lot_id']} ({_num(r['qty'])} {uom}, {r['lot_status']}, {why}): "
                + (f"covers {id_list([x.ref for x in freed])}." if freed else "nothing left for it to cover.")
            )
        for r in substitute_potential:
            freed = freed_by("substitute_qa", r["lot_id"])
            why = r["blocked_by"] + (
                f" ({r['pending_inspection_ids']})" if r["pending_inspection_ids"] else ""
            )
            scope = f"validated for {r['validated_for']}" if r["validated_for"] else "for every product"
            r["covers"] = ", ".join(x.ref for x in freed)
            lines.append(
                f"Ask QA to decide lot {r['lot_id']} of substitute {r['material_id']} "
                f"({_num(r['qty'])} {uom}, {r['lot_status']}, {why}; {scope}): "
                + (f"covers {id_list([x.ref for x in freed])}." if freed else "nothing left for it to cover.")
            )
        total = sum(float(r["qty"]) for r in potential)
        head = (
            f"{_num(total)} {uom} of {material} at {site} is blocked in {len(potential)} lot(s) a QA "
            "decision could free (released lots only count as supply)."
            if potential
            else f"No lot of {material} at {site} is on hold or in quarantine."
        )
        return [head, *lines], potential + substitute_potential

    def substitutes_section() -> tuple[list[str], list[dict]]:
        if "substitutes" in load_errors:
            raise load_errors["substitutes"]
        lines = []
        for s in substitutes:
            scope = (
                f"validated for {s['parent_material_id']}" if s["parent_material_id"] else "for every product"
            )
            label = (
                f"{s['substitute_material_id']} ({s['description'] or ''}, priority {s['priority']}, "
                f"{scope}, change {s['change_id']} {s['change_status']})"
            )
            if not s["valid_on_need_date"]:
                lines.append(f"{label}: not in force on the need date {first_need}.")
                continue
            freed = freed_by("substitute", s["substitute_material_id"])
            freed = [x for x in freed if s["parent_material_id"] in (None, x.makes)]
            s["covers"] = ", ".join(x.ref for x in freed)
            free = float(s["free_qty"] or 0)
            makers = [
                x for x in demands if x.kind == "work_order" and s["parent_material_id"] in (None, x.makes)
            ]
            if free <= 0:
                lines.append(f"{label}: no stock free at {site} after its own needs within its lead time.")
            elif freed:
                lines.append(
                    f"Use {label}: {_num(free)} {uom} free at {site}; "
                    f"covers {id_list([x.ref for x in freed])}."
                )
            elif not makers:
                product = s["parent_material_id"] or "a product"
                lines.append(
                    f"{label}: {_num(free)} {uom} free at {site}, but no work order until {horizon} "
                    f"makes {product}."
                )
            else:
                lines.append(
                    f"{label}: {_num(free)} {uom} free at {site}, not needed: stock and QA decisions cover "
                    f"the work orders it is validated for ({id_list([x.ref for x in makers], 10)})."
                )
        return lines or [f"No approved substitute for {material}."], substitutes

    def suppliers() -> tuple[list[str], list[dict]]:
        if "suppliers" in load_errors:
            raise load_errors["suppliers"]
        if "approved" in load_errors:
            raise load_errors["approved"]
        approved = inp.approved
        lines = []
        need = first_need or as_of
        if arrivals:
            first_due = min(_date(a["due_date"]) or as_of for a in arrivals)
            if first_due > need:
                lines.append(
                    f"The first open PO line is due {first_due}, {(first_due - need).days} days after the "
                    f"need on {need}: without expediting, nothing arrives in time."
                )
        else:
            lines.append(f"No open PO line for {material} at {site}.")
        by_supplier: dict[str, list[dict[str, Any]]] = {}
        for a in arrivals:
            by_supplier.setdefault(a["supplier_id"], []).append(a)
        for supplier_id, mine in by_supplier.items():
            first = mine[0]
            items = "\n".join(
                f"  - PO {x['po_id']} line {x['po_line']}: {_num(x['qty_open'])} {uom} open, "
                f"due {x['due_date']}"
                + (f", ASN {x['asn_id']} expected {x['asn_expected']}" if x["asn_id"] else "")
                for x in mine
            )
            lines.append(
                f"Expedite request to {first['supplier'] or supplier_id} "
                f"<{first['contact_email'] or 'no contact on record'}>:\n"
                f"Subject: Expedite {material} for {site}\n"
                f"We are short of {material} at {site} from {need} ({_num(total_short)} {uom} within the "
                f"next {lead} days). Please confirm by return the earliest date you can deliver, in full "
                f"or in part:\n{items}"
            )
        for a in approved:
            a["open_po_lines"] = len(by_supplier.get(a["supplier_id"], []))
            lt = a["planned_lead_time_days"]
            a["earliest_if_ordered_today"] = (
                (as_of + dt.timedelta(days=int(lt))).isoformat() if lt is not None else None
            )
        lines.append(
            "Approved suppliers (planned lead time; earliest delivery if ordered today): "
            + (
                "; ".join(
                    f"{a['supplier'] or a['supplier_id']} ({a['supplier_id']}, "
                    f"{a['planned_lead_time_days']} d, "
                    f"{a['earliest_if_ordered_today']}"
                    + (", has open lines" if a["open_po_lines"] else "")
                    + ")"
                    for a in approved
                )
                or "none on record"
            )
        )
        plan["data"]["approved_suppliers"] = approved
        return lines, arrivals

    def reforecast() -> tuple[list[str], list[dict]]:
        if "reforecast" in load_errors:
            raise load_errors["reforecast"]
        lines = [
            "Open PO lines expected at due date + the supplier's delay (median, p90; whole days rounded "
            "up; a past-due line from today)."
        ]
        lines += [
            f"{s}: {h['basis']}, median {h['median']:+.1f} d, p90 {h['p90']:+.1f} d"
            for s, h in delays.items()
        ]
        return lines, arrivals

    def uses(lever: str) -> int:
        return sum(1 for x in demands if any(c["lever"] == lever for c in x.covered_by))

    def resequence() -> tuple[list[str], list[dict]]:
        rows: list[dict[str, Any]] = []
        for order, x in enumerate(demands, start=1):
            when = x.covered_from()
            levers = sorted({c["lever"] for c in x.covered_by}, key=LEVERS.index)
            rows.append(
                {
                    "run_order": order,
                    "demand": x.ref,
                    "kind": x.kind,
                    "makes": x.makes,
                    "need_date": x.need_date.isoformat(),
                    "qty": x.qty,
                    "short_in_netting": x.short_in_netting,
                    "covered_by": "; ".join(f"{_num(c['qty'])} from {c['source']}" for c in x.covered_by),
                    "levers": ", ".join(levers),
                    "can_run_from": when.isoformat() if when else None,
                    "days_late": (when - x.need_date).days if when and when > x.need_date else 0,
                    "customer_orders": ", ".join(x.customer_orders),
                }
            )
        uncovered = [x for x in demands if x.covered_from() is None]
        late = [r for r in rows if r["can_run_from"] and int(r["days_late"]) > 0]
        recovery = (
            None
            if uncovered
            else max((x.covered_from() or as_of for x in demands), default=as_of).isoformat()
        )
        plan["data"]["recovery_date"] = recovery
        plan["data"]["uncovered"] = [x.ref for x in uncovered]
        lines = [
            f"{len(demands)} needs of {material} at {site} until {horizon}, customer orders first: "
            + ", ".join(f"{LEVER_LABELS[lv]} covers {uses(lv)}" for lv in LEVERS)
            + "."
        ]
        steps: list[str] = []
        done: tuple[str, ...] = ()
        for lv in LEVERS:
            done = (*done, lv)
            risk = at_risk_after(done)
            steps.append(f"after {LEVER_LABELS[lv]}: {len(risk)} ({id_list(risk, 10)})")
        plan["data"]["at_risk_after"] = {lv: at_risk_after(LEVERS[: i + 1]) for i, lv in enumerate(LEVERS)}
        lines.append("Customer order lines still at risk " + "; ".join(steps) + ".")
        if late:
            lines.append(
                "Run late, when supply arrives: "
                + id_list(
                    [f"{r['demand']} from {r['can_run_from']} ({r['days_late']} d late)" for r in late], 15
                )
                + "."
            )
        lines.append(
            f"Recovery: every need until {horizon} is covered from {recovery}."
            if recovery
            else f"Not recovered by open supply: {_num(sum(x.left for x in uncovered))} {uom} for "
            f"{id_list([x.ref for x in uncovered], 15)} has no source yet: order now (earliest delivery in "
            "the Suppliers section)."
        )
        return lines, rows

    _section(plan, "hit", "What is hit", hit)
    _section(plan, "potential_supply", "Potential supply: ask QA", potential_supply)
    _section(plan, "substitutes", "Substitutes", substitutes_section)
    _section(plan, "suppliers", "Suppliers to contact", suppliers)
    _section(plan, "reforecast", "Re-forecast arrivals", reforecast)
    _section(plan, "resequence", "Re-sequenced work orders", resequence)

    qa_total = sum(c["qty"] for x in demands for c in x.covered_by if c["lever"] == "potential")
    sub_total = sum(c["qty"] for x in demands for c in x.covered_by if c["lever"] == "substitute")
    risk = plan["data"].get("at_risk_after", {})
    plan["compact"] = [
        f"Short {_num(total_short)} {uom} from {first_need} (lead time {lead} d); "
        f"{len(risk.get('stock', []))} customer order lines at risk.",
        f"QA: {len(potential)} blocked lots ({_num(sum(float(r['qty']) for r in potential))} {uom}); using "
        f"{_num(qa_total)} {uom} of them leaves {len(risk.get('potential', []))} lines at risk.",
        f"Substitutes: {_num(sub_total)} {uom} usable"
        + (
            f" ({', '.join(sorted({s['substitute_material_id'] for s in substitutes}))})"
            if substitutes
            else ""
        )
        + f"; then {len(risk.get('substitute', []))} lines at risk.",
        f"Suppliers: {len({a['supplier_id'] for a in arrivals})} with {len(arrivals)} open PO lines "
        f"({_num(sum(float(a['qty_open']) for a in arrivals))} {uom}); first due "
        f"{min((a['due_date'] for a in arrivals), default='none')}.",
        "Recovery: " + (plan["data"].get("recovery_date") or "not covered by open supply: order now") + ".",
    ]
    return plan
