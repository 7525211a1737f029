"""Quality plan (see alerts/plans/__init__.py): hold scopes as QA draws them.

The proposed scope is the narrowest defensible one: the failed lot and every internal lot cut from the
same supplier lot (same supplier and material), with everything made from them. A supplier lot is the
supplier's own production batch, so a defect found in one of our lots of it is in all of them; a lot of
another supplier lot is suspect only on further evidence. That evidence is QA's call, so two wider scopes
are offered with their counts, each a superset of the one before:

- ``supplier_window``: the same supplier's lots of the material received within ``receipt_window_days``
  (14 by default) either side of the failed lot's receipt. Two weeks either side takes in the deliveries
  nearest to the bad one, before (where an escape usually started) and after (stock not used yet), i.e. the
  lots most likely to come from the same supplier campaign or raw-material batch.
- ``supplier_lookback``: every lot of the material from that supplier received from
  ``suspect_lookback_days`` (the rule's window, 90 by default) before the exception on.

Each scope is traced forward once to lots, work orders, shipments and customers; its lists are complete
and sorted. The plans of every quality alert of an evaluation are computed together (``quality_plans``):
the candidate lots in one query, and every scope of every alert walked in one breadth-first walk
(``walk_forward``: one set-based query per generation, the walk of ``medtower.trace`` for many start sets),
bounded by the trace's depth cap and ``MAX_SCOPE_LOTS`` lots a scope; a scope cut by either says so.
The sections (email and page) describe the proposed scope and keep their row caps.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb

from alerts.plans.common import (
    SUSPECT_LOOKBACK_DAYS,
    Loaded,
    _date,
    _section,
    id_list,
    keyed_rows,
    keys_source,
)
from alerts.state import Instance
from medtower.rows import fetch_rows, jsonable
from medtower.trace import MAX_DEPTH

log = logging.getLogger(__name__)

RECEIPT_WINDOW_DAYS = 14
# Ids spelled out in one compact line of the digest before "and N more".
COMPACT_IDS = 12


def _days(inst: Instance, name: str, default: int) -> int:
    """A whole number of days the rule passes in its result row (see quality_exception.yaml)."""
    value = (inst.details or {}).get(name)
    if value is None:
        return default
    whole = (
        (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, float) and value.is_integer())
        or (isinstance(value, str) and value.strip().isdigit())
    )
    days = int(float(value)) if whole else -1
    if days < 0:
        raise ValueError(
            f"{inst.rule_id}: {name} must be a whole number of days >= 0, got {value!r} "
            f"(alert {inst.key}); fix the rule's params"
        )
    return days


# Bounds of one forward walk of a hold scope: generations (as medtower.trace) and lots per scope. A scope
# that reaches either is cut there and its plan says so; the Traceability page and `medtower trace` walk
# without the lot cap.
MAX_SCOPE_LOTS = 20_000


@dataclass
class Walk:
    """A scope's forward genealogy, as ``medtower.trace.trace_lots`` gives it (the fields a plan reads)."""

    reached: list[str]  # every lot of the scope: the start lots and every lot made from them, sorted
    work_orders: list[str]
    shipments: list[str]
    customers: list[str]
    depth: dict[str, int] = field(default_factory=dict)  # detailed scopes: generations from the starts
    shipment_details: list[dict[str, Any]] = field(default_factory=list)  # detailed scopes only
    cut: str | None = None  # why the walk stopped early (a cap), for the plan to say


def walk_forward(
    con: duckdb.DuckDBPyConnection,
    scopes: list[tuple[str, ...]],
    max_depth: int = MAX_DEPTH,
    max_lots: int = MAX_SCOPE_LOTS,
    detailed: set[tuple[str, ...]] | None = None,
) -> dict[tuple[str, ...], Walk]:
    """Every scope's forward genealogy at once: one set-based query per generation for all scopes together.

    A breadth-first walk in a temporary table (scope, lot, depth): each generation joins the last one's
    lots of every scope still walking to ``fct_lot_genealogy_edges`` and keeps the lots the scope has not
    reached. At most ``max_depth`` generations; a scope past ``max_lots`` lots stops walking there. Lots,
    work orders, shipments and customers of each scope are aggregated in SQL; the depth of each lot and the
    shipment rows only for the ``detailed`` scopes (default: all).
    """
    scopes = sorted(set(scopes))
    if not scopes:
        return {}
    ids = {s: i for i, s in enumerate(scopes)}
    detail_ids = sorted(ids[s] for s in (detailed if detailed is not None else scopes))
    pairs = [(ids[s], lot) for s in scopes for lot in dict.fromkeys(s)]
    con.execute("create or replace temp table _plan_walk (scope integer, lot_id varchar, depth integer)")
    try:
        con.execute(
            "insert into _plan_walk select unnest(?::integer[]), unnest(?::varchar[]), 0",
            [[p[0] for p in pairs], [p[1] for p in pairs]],
        )
        limit = dict.fromkeys(range(len(scopes)), max_depth)  # generations whose lots were walked from
        cut: dict[int, str] = {}
        walking = set(limit)
        for level in range(1, max_depth + 1):
            added = con.execute(
                """insert into _plan_walk
                select distinct w.scope, e.child_lot_id, ?
                from _plan_walk as w
                join marts.fct_lot_genealogy_edges as e on e.parent_lot_id = w.lot_id
                where w.depth = ? and w.scope in (select unnest(?::integer[]))
                  and not exists (
                      select 1 from _plan_walk as v where v.scope = w.scope and v.lot_id = e.child_lot_id
                  )""",
                [level, level - 1, sorted(walking)],
            ).fetchone()
            if not added or not added[0]:
                break
            for scope, n in con.execute(
                "select scope, count(*) from _plan_walk where scope in (select unnest(?::integer[])) "
                "group by scope having count(*) > ?",
                [sorted(walking), max_lots],
            ).fetchall():
                walking.discard(scope)
                limit[scope] = level
                cut[scope] = (
                    f"the forward genealogy was cut after {level} generation(s) at {n:,} lots (the plan's "
                    f"cap is {max_lots:,} lots a scope); `medtower trace` and the Traceability page give "
                    "every lot"
                )
            if not walking:
                break
        else:
            for (scope,) in con.execute(
                """select distinct w.scope from _plan_walk as w
                join marts.fct_lot_genealogy_edges as e on e.parent_lot_id = w.lot_id
                where w.depth = ? and w.scope in (select unnest(?::integer[]))""",
                [max_depth, sorted(walking)],
            ).fetchall():
                cut[scope] = (
                    f"the forward genealogy was cut after {max_depth} generations (the walk's depth cap; "
                    "real device genealogies are a handful deep: check the genealogy for a cycle)"
                )
        bounds, bound_params = keys_source(
            scope=("integer", list(limit)), below=("integer", [limit[i] for i in limit])
        )
        lists = {
            scope: (lots, wos, ships, customers)
            for scope, lots, wos, ships, customers in con.execute(
                f"""
                with lots as (
                    select scope, list_sort(list(lot_id)) as lots from _plan_walk group by scope
                ),
                wos as (
                    select w.scope, list_sort(list(distinct e.wo_id)) as wos
                    from _plan_walk as w
                    join {bounds} as b on b.scope = w.scope
                    join marts.fct_lot_genealogy_edges as e on e.parent_lot_id = w.lot_id
                    where w.depth < b.below and e.wo_id is not null
                    group by w.scope
                ),
                shipped as (
                    select w.scope, list_sort(list(distinct s.shipment_id)) as shipments,
                           list_sort(list(distinct s.customer_id) filter (where s.customer_id is not null))
                               as customers
                    from _plan_walk as w
                    join marts.fct_lot_shipments as s on s.lot_id = w.lot_id
                    group by w.scope
                )
                select lots.scope, lots.lots, wos.wos, shipped.shipments, shipped.customers
                from lots left join wos using (scope) left join shipped using (scope)""",
                bound_params,
            ).fetchall()
        }
        depth: dict[int, dict[str, int]] = {i: {} for i in detail_ids}
        for scope, lot, d in con.execute(
            "select scope, lot_id, depth from _plan_walk where scope in (select unnest(?::integer[]))",
            [detail_ids],
        ).fetchall():
            depth[scope][lot] = d
        shipments = keyed_rows(
            con,
            """select w.scope as _k_scope, s.shipment_id, s.so_id, s.so_line, s.customer_id,
                   c.name as customer_name, s.material_id, s.lot_id, s.serial, s.qty, s.shipped_at,
                   s.delivered_at
            from _plan_walk as w
            join marts.fct_lot_shipments as s on s.lot_id = w.lot_id
            left join marts.dim_customers as c on s.customer_id = c.customer_id
            where w.scope in (select unnest(?::integer[]))
            order by w.scope, s.shipped_at, s.shipment_id, s.lot_id, s.serial""",
            [detail_ids],
        )
    finally:
        con.execute("drop table if exists _plan_walk")
    out: dict[tuple[str, ...], Walk] = {}
    for s, i in ids.items():
        lots, wos, ships, customers = lists[i]
        out[s] = Walk(
            lots,
            wos or [],
            ships or [],
            customers or [],
            depth.get(i, {}),
            shipments.get((i,), []),
            cut.get(i),
        )
    return out


@dataclass(frozen=True)
class Failed:
    """A failed lot to scope, with the windows of its alert (None: every candidate lot)."""

    lot: str
    event_date: dt.date | None = None
    window_days: int = RECEIPT_WINDOW_DAYS
    lookback_days: int = SUSPECT_LOOKBACK_DAYS


def candidates_for(
    con: duckdb.DuckDBPyConnection, failed: list[Failed]
) -> dict[Failed, list[dict[str, Any]]]:
    """``candidate_lots`` of many failed lots in one query; a lot missing from ``dim_lots`` is left out.

    With an event date, only the candidates a scope can take are returned (the failed lot, those sharing
    its supplier lot, those received in its window or lookback, and those without a receipt, which its plan
    names): a supplier's lots of a material are thousands over the years. The first receipt is looked up for
    the candidates only, not aggregated over every movement.
    """
    failed = sorted(set(failed), key=lambda f: (f.lot, str(f.event_date), f.window_days, f.lookback_days))
    if not failed:
        return {}
    req, params = keys_source(
        n=("integer", list(range(len(failed)))),
        lot_id=("varchar", [f.lot for f in failed]),
        event_date=("date", [f.event_date for f in failed]),
        window_days=("integer", [f.window_days for f in failed]),
        lookback_days=("integer", [f.lookback_days for f in failed]),
    )
    rows = keyed_rows(
        con,
        f"""
        with bad as (
            select r.n, r.event_date, r.window_days, r.lookback_days, l.lot_id, l.supplier_id, l.material_id,
                   upper(nullif(trim(l.supplier_lot), '')) as sup_lot
            from {req} as r join marts.dim_lots as l on l.lot_id = r.lot_id
        ),
        cands as (
            select bad.n, l.lot_id, l.material_id, l.site_id, l.origin, l.supplier_id, l.supplier_lot,
                   l.status, l.lot_id = bad.lot_id as is_failed_lot,
                   coalesce(upper(nullif(trim(l.supplier_lot), '')) = bad.sup_lot, false)
                       as shares_supplier_lot
            from marts.dim_lots as l
            join bad on l.lot_id = bad.lot_id
                or (bad.supplier_id is not null and l.supplier_id = bad.supplier_id
                    and l.material_id = bad.material_id)
        ),
        receipts as (
            select lot_id, min(moved_date) as received_date from marts.fct_inventory_movements
            where movement_type = 'receipt' and lot_id in (select lot_id from cands)
            group by lot_id
        ),
        dated as (
            select c.*, r.received_date from cands as c left join receipts as r on r.lot_id = c.lot_id
        ),
        centre as (
            select d.n, coalesce(d.received_date, b.event_date) as centre, b.event_date, b.window_days,
                   b.lookback_days
            from dated as d join bad as b on b.n = d.n
            where d.is_failed_lot
        )
        select d.n as _k_n, d.lot_id, d.material_id, d.site_id, d.origin, d.supplier_id, d.supplier_lot,
               d.status, d.received_date, d.is_failed_lot, d.shares_supplier_lot
        from dated as d join centre as c on c.n = d.n
        where c.event_date is null or d.is_failed_lot or d.shares_supplier_lot or d.received_date is null
           or d.received_date between c.centre - c.window_days and c.centre + c.window_days
           or d.received_date >= c.event_date - c.lookback_days
        order by d.n, d.lot_id""",
        params,
    )
    return {failed[k[0]]: mine for k, mine in rows.items()}


def candidate_lots(con: duckdb.DuckDBPyConnection, lot: str) -> list[dict[str, Any]]:
    """The failed lot and every lot of the same supplier and material, with its first receipt date and
    whether it shares the failed lot's supplier lot (compared trimmed and case-blind, as a label reads)."""
    found = candidates_for(con, [Failed(lot)])
    if Failed(lot) not in found:
        raise ValueError(_missing(lot))
    return found[Failed(lot)]


def _missing(lot: str) -> str:
    return f"lot {lot} is not in marts.dim_lots (quarantined at ingest?): trace it by hand"


def _scope(sid: str, basis: str, starts: list[str], walk: Walk) -> dict[str, Any]:
    """A scope from its suspect lots and their walk, lists sorted."""
    key = sorted(starts)
    scope: dict[str, Any] = {
        "id": sid,
        "basis": basis,
        "suspect_lots": key,
        "lots_to_hold": walk.reached,
        "work_orders": walk.work_orders,
        "shipments": walk.shipments,
        "customers": walk.customers,
    }
    scope["counts"] = {k: len(scope[k]) for k in ("lots_to_hold", "work_orders", "shipments", "customers")}
    return scope


@dataclass
class Starts:
    """A failed lot's scopes before they are walked: (id, basis, suspect lots), narrowest first."""

    scopes: list[tuple[str, str, tuple[str, ...]]]
    candidates: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def scope_starts(
    lot: str,
    cands: list[dict[str, Any]],
    event_date: dt.date,
    window_days: int = RECEIPT_WINDOW_DAYS,
    lookback_days: int = SUSPECT_LOOKBACK_DAYS,
) -> Starts:
    """Every hold scope of a failed lot, by its suspect lots (see the module for why these three)."""
    bad = next(c for c in cands if c["is_failed_lot"])
    material, supplier, sup_lot = bad["material_id"], bad["supplier_id"], bad["supplier_lot"]
    notes: list[str] = []

    proposed_ids = [c["lot_id"] for c in cands if c["is_failed_lot"] or c["shares_supplier_lot"]]
    if sup_lot and supplier and len(proposed_ids) > 1:
        basis = (
            f"Lot {lot} and the {len(proposed_ids) - 1} other lot(s) of {material} cut from the same "
            f"supplier lot {sup_lot} of {supplier}, and everything made from them."
        )
    elif sup_lot and supplier:
        basis = (
            f"Lot {lot}, the only lot of {material} cut from supplier lot {sup_lot} of {supplier}, and "
            "everything made from it."
        )
    else:
        basis = (
            f"Lot {lot} and everything made from it: it has no supplier lot on record, so no other lot "
            "is known to come from the same batch."
        )
    scopes = [("supplier_lot", basis, tuple(sorted(proposed_ids)))]
    if not supplier:
        notes.append(f"Lot {lot} has no supplier on record ({bad['origin']}): no supplier scope to widen to.")
        return Starts(scopes, cands, notes)

    received = _date(bad["received_date"])
    centre = received or event_date
    lo, hi = centre - dt.timedelta(days=window_days), centre + dt.timedelta(days=window_days)
    centre_text = (
        f"the failed receipt on {centre}"
        if received
        else f"the exception on {centre} (no receipt of {lot} on record)"
    )
    since = event_date - dt.timedelta(days=lookback_days)
    window_ids, lookback_ids = set(proposed_ids), set(proposed_ids)
    for c in cands:
        day = _date(c["received_date"])
        if day is not None and lo <= day <= hi:
            window_ids.add(c["lot_id"])
        if day is not None and day >= since:
            lookback_ids.add(c["lot_id"])
    lookback_ids |= window_ids  # each wider scope holds the narrower ones
    scopes.append(
        (
            "supplier_window",
            f"Every lot of {material} from {supplier} received {lo} to {hi} ({window_days} days either "
            f"side of {centre_text}), at any site, with the proposed scope and everything made from them.",
            tuple(sorted(window_ids)),
        )
    )
    scopes.append(
        (
            "supplier_lookback",
            f"Every lot of {material} from {supplier} received since {since} ({lookback_days} days before "
            f"the exception on {event_date}), at any site, with the narrower scopes and everything made "
            "from them.",
            tuple(sorted(lookback_ids)),
        )
    )
    undated = sorted(c["lot_id"] for c in cands if c["received_date"] is None and not c["is_failed_lot"])
    if undated:
        notes.append(
            f"{len(undated)} lot(s) of {material} from {supplier} have no receipt on record and are in no "
            f"window; decide them by hand: {id_list(undated)}."
        )
    return Starts(scopes, cands, notes)


@dataclass
class Scopes:
    """The proposed scope, the wider ones (narrowest first), the proposed scope's walk, notes for QA and
    the candidate lots (the failed lot and its supplier's lots of the material)."""

    proposed: dict[str, Any]
    wider: list[dict[str, Any]]
    trace: Walk
    candidates: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def _scopes(starts: Starts, walks: dict[tuple[str, ...], Walk]) -> Scopes:
    built = [_scope(sid, basis, list(lots), walks[lots]) for sid, basis, lots in starts.scopes]
    notes = list(starts.notes)
    for (sid, _, lots), scope in zip(starts.scopes, built, strict=True):
        if walks[lots].cut:
            notes.append(f"Scope {sid}: {walks[lots].cut}.")
            scope["cut"] = walks[lots].cut
    return Scopes(built[0], built[1:], walks[starts.scopes[0][2]], starts.candidates, notes)


def hold_scopes(
    con: duckdb.DuckDBPyConnection,
    lot: str,
    event_date: dt.date,
    window_days: int = RECEIPT_WINDOW_DAYS,
    lookback_days: int = SUSPECT_LOOKBACK_DAYS,
) -> Scopes:
    """Every hold scope of one failed lot, each walked forward."""
    failed = Failed(lot, event_date, window_days, lookback_days)
    found = candidates_for(con, [failed])
    if failed not in found:
        raise ValueError(_missing(lot))
    starts = scope_starts(lot, found[failed], event_date, window_days, lookback_days)
    return _scopes(starts, walk_forward(con, [s[2] for s in starts.scopes]))


_LABELS = {
    "supplier_lot": "Proposed: shared supplier lot",
    "supplier_window": "Same supplier +/-{w} d",
    "supplier_lookback": "Same supplier, {l}-day lookback",
}


def scope_label(scope: dict[str, Any], window_days: int, lookback_days: int) -> str:
    """The short name QA picks a scope by (page switch, digest)."""
    return _LABELS.get(scope["id"], scope["id"]).format(w=window_days, l=lookback_days)


def _counts_text(scope: dict[str, Any]) -> str:
    c = scope["counts"]
    return (
        f"{c['lots_to_hold']} lots, {c['work_orders']} work orders, {c['shipments']} shipments, "
        f"{c['customers']} customers"
    )


def compact_lines(
    proposed: dict[str, Any], wider: list[dict[str, Any]], hold_now: list[str], labels: dict[str, str]
) -> list[str]:
    """One short line per lever, for a digest read away from a screen."""
    n = proposed["counts"]
    shipped = (
        f"Shipped to {n['customers']} customer(s) in {n['shipments']} shipment(s): "
        f"{id_list(proposed['customers'], COMPACT_IDS)}"
        if n["shipments"]
        else "Shipped: none of the suspect devices has left"
    )
    out = [
        f"Hold {n['lots_to_hold']} lot(s): {id_list(proposed['lots_to_hold'], COMPACT_IDS)}",
        f"Put on hold now (released, in stock): {id_list(hold_now, COMPACT_IDS)}",
        f"Work orders: {id_list(proposed['work_orders'], COMPACT_IDS)}",
        shipped,
    ]
    narrower = proposed
    for w in wider:
        same = w["lots_to_hold"] == narrower["lots_to_hold"]
        name = "the proposed scope" if narrower is proposed else labels[narrower["id"]].lower()
        extra = f" (no lot beyond {name})" if same else ""
        out.append(f"Wider: {labels[w['id']].lower()}: {_counts_text(w)}{extra}")
        narrower = w
    return out


def _summary(inst: Instance, proposed: dict[str, Any], wider: list[dict[str, Any]], reason: Any) -> str:
    lot, n = inst.labels["lot_id"], proposed["counts"]
    sharing = len(proposed["suspect_lots"]) - 1
    head = (
        f"Hold lot {lot} ({inst.labels.get('material_id')}) and the {sharing} lot(s) cut from the same "
        "supplier lot, with everything made from them"
        if sharing
        else f"Hold lot {lot} ({inst.labels.get('material_id')}), which shares its supplier lot with no "
        "other lot, with everything made from it"
    )
    got = f"{n['customers']} customer(s) got suspect devices" if n["customers"] else "none has been shipped"
    widen = "; ".join(
        f"{w['label'].lower()}: {w['counts']['lots_to_hold']} lots, {w['counts']['customers']} customers"
        for w in wider
    )
    return (
        f"{head}: {n['lots_to_hold']} lot(s), {n['work_orders']} work order(s); {got}. "
        + (f"QA may widen to {widen}. " if widen else "")
        + f"Reason: {reason}."
    )


def quality_plan(
    con: duckdb.DuckDBPyConnection,
    inst: Instance,
    as_of: dt.date,
    lookback_days: int | None = None,
) -> dict[str, Any]:
    """The quality plan with ``scope`` (proposed), ``wider_scopes`` and ``compact`` (see the module)."""
    plan = quality_plans(con, [inst], as_of, lookback_days)[inst.key]
    if isinstance(plan, Exception):
        raise plan
    return plan


@dataclass
class _Alert:
    inst: Instance
    lot: str
    event_date: dt.date
    window_days: int
    lookback_days: int
    starts: Starts | None = None
    failure: Exception | None = None  # the scope could not be computed


def quality_plans(
    con: duckdb.DuckDBPyConnection,
    insts: list[Instance],
    as_of: dt.date,
    lookback_days: int | None = None,
) -> dict[str, dict[str, Any] | Exception]:
    """The quality plans of many alerts: the candidate lots of every failed lot in one query, every scope of
    every alert walked forward together (``walk_forward``), the stock of every lot to hold in one query;
    each plan assembled here. An alert whose rule passes bad windows gets its exception."""
    out: dict[str, dict[str, Any] | Exception] = {}
    alerts: list[_Alert] = []
    for inst in insts:
        try:
            lot = inst.labels["lot_id"]
            event_date = _date(inst.details.get("first_event_date")) or as_of
            window_days = _days(inst, "receipt_window_days", RECEIPT_WINDOW_DAYS)
            lookback = (
                lookback_days
                if lookback_days is not None
                else _days(inst, "suspect_lookback_days", SUSPECT_LOOKBACK_DAYS)
            )
        except Exception as exc:
            out[inst.key] = exc
            continue
        alerts.append(_Alert(inst, lot, event_date, window_days, lookback))
    traced = [a for a in alerts if not a.lot.startswith("NCR ")]
    walks: dict[tuple[str, ...], Walk] = {}
    try:
        failed = {a.inst.key: Failed(a.lot, a.event_date, a.window_days, a.lookback_days) for a in traced}
        cands = candidates_for(con, list(failed.values()))
        for a in traced:
            if failed[a.inst.key] not in cands:
                a.failure = ValueError(_missing(a.lot))
                continue
            mine = cands[failed[a.inst.key]]
            a.starts = scope_starts(a.lot, mine, a.event_date, a.window_days, a.lookback_days)
        walks = walk_forward(
            con,
            [s[2] for a in traced if a.starts for s in a.starts.scopes],
            MAX_DEPTH,
            MAX_SCOPE_LOTS,
            detailed={a.starts.scopes[0][2] for a in traced if a.starts},
        )
    except Exception as exc:  # a plan that cannot scope says so; it never guesses a scope
        for a in traced:
            a.failure, a.starts = a.failure or exc, None
    lots = sorted({lot for a in traced if a.starts for lot in _scope_lots(a.starts.scopes[0][2], walks)})
    stock = Loaded(lambda: _stock(con, lots), {})
    for a in alerts:
        try:
            out[a.inst.key] = _assemble(a, walks, stock)
        except Exception as exc:
            log.exception("quality plan for %s failed", a.inst.key)
            out[a.inst.key] = exc
    return out


def _scope_lots(starts: tuple[str, ...], walks: dict[tuple[str, ...], Walk]) -> list[str]:
    return walks[starts].reached


def _stock(con: duckdb.DuckDBPyConnection, lots: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Status and stock of every lot to hold, by lot."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not lots:
        return out
    for r in fetch_rows(
        con,
        """
        select l.lot_id, l.material_id, l.origin, coalesce(i.status_at_as_of, l.status) as status,
               coalesce(i.on_hand_qty, 0) as on_hand_qty
        from marts.dim_lots as l left join marts.fct_inventory_by_lot as i on i.lot_id = l.lot_id
        where l.lot_id in (select unnest(?::varchar[])) order by l.lot_id""",
        [lots],
    ):
        out.setdefault(r["lot_id"], []).append(r)
    return out


def _assemble(a: _Alert, walks: dict[tuple[str, ...], Walk], stock: Loaded) -> dict[str, Any]:
    inst, lot, window_days, lookback_days = a.inst, a.lot, a.window_days, a.lookback_days
    reason = inst.details.get("reasons") or inst.title
    plan: dict[str, Any] = {
        "kind": "quality",
        "sections": [],
        "data": {},
        "scope": None,
        "wider_scopes": [],
        "compact": [],
        "summary": "",
    }
    if lot.startswith("NCR "):  # the rule keys an NCR without a lot by the NCR: nothing to trace
        plan["summary"] = (
            f"{lot} names no lot: find the affected lots of {inst.labels.get('material_id')} with the NCR "
            "owner, then trace them forward on the Traceability page."
        )
        plan["compact"] = [plan["summary"]]
        return plan
    if a.starts is None or a.failure is not None:
        exc = a.failure or ValueError("no scope")
        plan["summary"] = f"The hold scope of lot {lot} could not be computed: {exc}"
        plan["errors"] = [{"section": "scope", "error": str(exc)}]
        plan["compact"] = [plan["summary"]]
        return plan
    scopes = _scopes(a.starts, walks)
    proposed, wider, trace, notes = scopes.proposed, scopes.wider, scopes.trace, scopes.notes
    labels = {s["id"]: scope_label(s, window_days, lookback_days) for s in (proposed, *wider)}
    for s in (proposed, *wider):
        s["label"] = labels[s["id"]]
    plan["scope"], plan["wider_scopes"] = proposed, wider
    depth = trace.depth
    n = proposed["counts"]

    def suspects() -> tuple[list[str], list[dict]]:
        keep = set(proposed["suspect_lots"])
        cols = (
            "lot_id",
            "site_id",
            "supplier_id",
            "supplier_lot",
            "received_date",
            "status",
            "is_failed_lot",
        )
        rows = [{c: r[c] for c in cols} for r in scopes.candidates if r["lot_id"] in keep]
        return [proposed["basis"], *notes], rows

    def hold() -> tuple[list[str], list[dict]]:
        if stock.error is not None:
            raise stock.error
        rows = [dict(r) for lot in proposed["lots_to_hold"] for r in stock.get(lot, [])]
        for r in rows:
            r["generation"] = depth.get(r["lot_id"], 0)
            if float(r["on_hand_qty"] or 0) <= 0:
                r["action"] = "no stock: follow its genealogy and shipments"
            elif r["status"] == "released":
                r["action"] = "put on hold"
            else:
                r["action"] = f"keep {r['status']}: do not release"
        rows.sort(key=lambda r: (r["generation"], r["lot_id"]))
        hold_now = sorted(r["lot_id"] for r in rows if r["action"] == "put on hold")
        blocked = sorted(r["lot_id"] for r in rows if r["action"].startswith("keep"))
        plan["data"]["trace"].update(hold_now=hold_now, keep_blocked=blocked)  # complete, whatever is shown
        return [
            f"{n['lots_to_hold']} lots in the proposed scope (the suspect lots and their forward genealogy), "
            f"through {n['work_orders']} work orders: {id_list(proposed['work_orders'])}.",
            f"Put on hold now (released, with stock): {id_list(hold_now)}.",
            f"Keep blocked (not released, with stock): {id_list(blocked)}.",
        ], rows

    def shipped() -> tuple[list[str], list[dict]]:
        rows = sorted(
            (
                {
                    "customer_id": s["customer_id"],
                    "customer": s.get("customer_name"),
                    "shipment_id": s["shipment_id"],
                    "so_id": s["so_id"],
                    "lot_id": s["lot_id"],
                    "serial": s.get("serial"),
                    "qty": jsonable(s.get("qty")),
                    "shipped_at": s.get("shipped_at"),
                }
                for s in trace.shipment_details
            ),
            key=lambda r: (r["customer_id"], str(r["shipped_at"]), r["shipment_id"], r["lot_id"]),
        )
        unique = list({(r["shipment_id"], r["lot_id"], r["serial"]): r for r in rows}.values())
        if not unique:
            return ["No suspect device of the proposed scope has been shipped."], []
        return [
            f"{n['shipments']} shipments of suspect devices to {n['customers']} customers: "
            f"{', '.join(proposed['customers'])}. Assess field action with regulatory affairs."
        ], unique

    def widen() -> tuple[list[str], list[dict]]:
        if not wider:
            return [*notes] or ["No wider scope applies."], []
        rows = [{"scope": labels[w["id"]], "id": w["id"], **w["counts"]} for w in (proposed, *wider)]
        lines = [f"{labels[w['id']]}: {_counts_text(w)}. {w['basis']}" for w in wider]
        return [*lines, "QA can widen the hold on the Alerts page; each scope lists every lot."], rows

    plan["data"]["trace"] = {
        "suspect_lots": proposed["suspect_lots"],
        "lots": proposed["lots_to_hold"],
        "work_orders": proposed["work_orders"],
        "customers": proposed["customers"],
        "shipments": proposed["shipments"],
    }
    _section(plan, "suspects", "Suspect lots (proposed scope: shared supplier lot)", suspects)
    _section(plan, "hold", "Lots to put on hold (forward genealogy)", hold)
    _section(plan, "shipped", "Shipped devices and customers", shipped)
    _section(plan, "wider", "Wider scopes QA can choose", widen)
    hold_now = plan["data"]["trace"].get("hold_now", [])
    plan["compact"] = compact_lines(proposed, wider, hold_now, labels)
    plan["summary"] = _summary(inst, proposed, wider, reason)
    return plan


def suspect_lots(
    con: duckdb.DuckDBPyConnection, lot: str, event_date: dt.date | None, lookback_days: int
) -> list[dict[str, Any]]:
    """The suspect lots of the widest supplier scope (the failed lot, and the same supplier's lots of the
    material received from ``lookback_days`` before the exception on); kept for callers of the old plan."""
    rows = candidate_lots(con, lot)
    if event_date is None:
        return rows
    start = event_date - dt.timedelta(days=lookback_days)
    return [
        r
        for r in rows
        if r["is_failed_lot"]
        or r["shares_supplier_lot"]
        or (_date(r["received_date"]) or dt.date.min) >= start
    ]
