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

Each scope is traced forward once (``medtower.trace.trace_lots``) to lots, work orders, shipments and
customers; its lists are complete and sorted. The sections (email and page) describe the proposed scope
and keep their row caps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from alerts.plans.common import (
    SUSPECT_LOOKBACK_DAYS,
    _date,
    _in,
    _rows,
    _section,
    id_list,
)
from alerts.state import Instance
from medtower.rows import jsonable
from medtower.trace import trace_lots

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


def candidate_lots(con: duckdb.DuckDBPyConnection, lot: str) -> list[dict[str, Any]]:
    """The failed lot and every lot of the same supplier and material, with its first receipt date and
    whether it shares the failed lot's supplier lot (compared trimmed and case-blind, as a label reads)."""
    if not con.execute("select 1 from marts.dim_lots where lot_id = ?", [lot]).fetchone():
        raise ValueError(f"lot {lot} is not in marts.dim_lots (quarantined at ingest?): trace it by hand")
    return _rows(
        con,
        """
        with receipts as (
            select lot_id, min(moved_date) as received_date from marts.fct_inventory_movements
            where movement_type = 'receipt' group by lot_id
        ),
        bad as (
            select *, upper(nullif(trim(supplier_lot), '')) as sup_lot from marts.dim_lots where lot_id = ?
        )
        select l.lot_id, l.material_id, l.site_id, l.origin, l.supplier_id, l.supplier_lot, l.status,
               r.received_date, l.lot_id = bad.lot_id as is_failed_lot,
               coalesce(upper(nullif(trim(l.supplier_lot), '')) = bad.sup_lot, false) as shares_supplier_lot
        from marts.dim_lots as l
        join bad on l.lot_id = bad.lot_id
            or (bad.supplier_id is not null and l.supplier_id = bad.supplier_id
                and l.material_id = bad.material_id)
        left join receipts as r on r.lot_id = l.lot_id
        order by l.lot_id""",
        [lot],
    )


def _traced(
    con: duckdb.DuckDBPyConnection, sid: str, basis: str, starts: list[str], cache: dict[tuple, dict]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A scope from its suspect lots: one forward walk (shared with an equal scope), lists sorted."""
    key = tuple(sorted(starts))
    if key not in cache:
        cache[key] = trace_lots(con, list(key), "forward")
    result = cache[key]
    lots = sorted({*key, *result["lots"]})
    scope: dict[str, Any] = {
        "id": sid,
        "basis": basis,
        "suspect_lots": list(key),
        "lots_to_hold": lots,
        "work_orders": sorted(result["work_orders"]),
        "shipments": sorted(result["shipments"]),
        "customers": sorted(result["customers"]),
    }
    scope["counts"] = {k: len(scope[k]) for k in ("lots_to_hold", "work_orders", "shipments", "customers")}
    return scope, result


@dataclass
class Scopes:
    """The proposed scope, the wider ones (narrowest first), the proposed scope's trace, notes for QA and
    the candidate lots (the failed lot and its supplier's lots of the material)."""

    proposed: dict[str, Any]
    wider: list[dict[str, Any]]
    trace: dict[str, Any]
    candidates: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def hold_scopes(
    con: duckdb.DuckDBPyConnection,
    lot: str,
    event_date: dt.date,
    window_days: int = RECEIPT_WINDOW_DAYS,
    lookback_days: int = SUSPECT_LOOKBACK_DAYS,
) -> Scopes:
    """Every hold scope of a failed lot, each traced forward (see the module for why these three)."""
    cands = candidate_lots(con, lot)
    bad = next(c for c in cands if c["is_failed_lot"])
    material, supplier, sup_lot = bad["material_id"], bad["supplier_id"], bad["supplier_lot"]
    cache: dict[tuple, dict] = {}
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
    proposed, trace = _traced(con, "supplier_lot", basis, proposed_ids, cache)

    wider: list[dict[str, Any]] = []
    if not supplier:
        notes.append(f"Lot {lot} has no supplier on record ({bad['origin']}): no supplier scope to widen to.")
        return Scopes(proposed, wider, trace, cands, notes)

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
    scope, _ = _traced(
        con,
        "supplier_window",
        f"Every lot of {material} from {supplier} received {lo} to {hi} ({window_days} days either side "
        f"of {centre_text}), at any site, with the proposed scope and everything made from them.",
        sorted(window_ids),
        cache,
    )
    wider.append(scope)
    scope, _ = _traced(
        con,
        "supplier_lookback",
        f"Every lot of {material} from {supplier} received since {since} ({lookback_days} days before the "
        f"exception on {event_date}), at any site, with the narrower scopes and everything made from them.",
        sorted(lookback_ids),
        cache,
    )
    wider.append(scope)
    undated = sorted(c["lot_id"] for c in cands if c["received_date"] is None and not c["is_failed_lot"])
    if undated:
        notes.append(
            f"{len(undated)} lot(s) of {material} from {supplier} have no receipt on record and are in no "
            f"window; decide them by hand: {id_list(undated)}."
        )
    return Scopes(proposed, wider, trace, cands, notes)


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
    lot = inst.labels["lot_id"]
    event_date = _date(inst.details.get("first_event_date")) or as_of
    window_days = _days(inst, "receipt_window_days", RECEIPT_WINDOW_DAYS)
    if lookback_days is None:
        lookback_days = _days(inst, "suspect_lookback_days", SUSPECT_LOOKBACK_DAYS)
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
    try:
        scopes = hold_scopes(con, lot, event_date, window_days, lookback_days)
    except Exception as exc:  # a plan that cannot scope says so; it never guesses a scope
        plan["summary"] = f"The hold scope of lot {lot} could not be computed: {exc}"
        plan["errors"] = [{"section": "scope", "error": str(exc)}]
        plan["compact"] = [plan["summary"]]
        return plan
    proposed, wider, trace, notes = scopes.proposed, scopes.wider, scopes.trace, scopes.notes
    labels = {s["id"]: scope_label(s, window_days, lookback_days) for s in (proposed, *wider)}
    for s in (proposed, *wider):
        s["label"] = labels[s["id"]]
    plan["scope"], plan["wider_scopes"] = proposed, wider
    depth = {d["lot_id"]: d["depth"] for d in trace["lot_details"]}
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
        lots = proposed["lots_to_hold"]
        rows = _rows(
            con,
            f"""
            select l.lot_id, l.material_id, l.origin, coalesce(i.status_at_as_of, l.status) as status,
                   coalesce(i.on_hand_qty, 0) as on_hand_qty
            from marts.dim_lots as l left join marts.fct_inventory_by_lot as i on i.lot_id = l.lot_id
            where l.lot_id in {_in(lots)} order by l.lot_id""",
            lots,
        )
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
                for s in trace["shipment_details"]
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
