"""A two-site plant where some quality records have no site, for "the sites add up" tests.

As-of A = 2026-06-30, window P = 30 (local dates 06-01 .. 06-30). Every expected value is worked out
here by hand, from the rows below, not from the code under test.

Lots: L1 (RM1) at S1, L2 (RM1) at S2. NCRs take their site from their lot; a CAPA from its NCRs when
they all share one site.

NCR  lot  site     opened  closed  open at A   CAPA
NA   L1   S1       06-05   -       yes         KA
NB   L2   S2       06-10   06-20   no          -
NC   -    no site  06-12   -       yes         KB
ND   L2   S2       06-25   -       yes         KC
NE   L1   S1       06-01   06-03   no          KC

open_ncr_count at A: S1 1 (NA), S2 1 (ND), no site 1 (NC), all 3.
At 06-15: NA, NB, NC open: S1 1, S2 1, no site 1, all 3. At 06-02: NE only: S1 1, all 1.

CAPA  due    NCR sites      site     overdue at A (open, due < A)
KA    06-10  S1             S1       yes
KB    06-15  (NC: none)     no site  yes
KC    06-20  S1 and S2      no site  yes (two sites: no single site)
KD    07-15  (none)         no site  no (due after A)

overdue_capa_count at A: S1 1, S2 0, no site 2, all 3.

Incoming inspections (site from the lot): I1 L1 pass 06-10, I2 L2 fail 06-12, I3 L2 pass 06-14.
incoming_lot_reject_rate: S1 0 / 1, S2 1 / 2, all 1 / 3.

Work orders:
WO   site  status       planned_end         actual_end        open at A  late at A
WO1  S1    in_progress  06-20 16:00         -                 yes        yes
WO2  S2    released     06-30 10:00         -                 yes        yes (end of day A)
WO3  S2    planned      07-10 16:00         -                 yes        no
WO4  S1    completed    06-28 16:00         06-25 15:00       no         no
WO5  S1    cancelled    06-10 16:00         -                 no         no
WO6  S2    completed    06-26 16:00         06-29 12:00       no         no (late 06-26..06-28)

open at A: S1 1, S2 2, all 3; late at A: S1 1, S2 1, all 2.
At 06-27: WO1 late, WO6 late (planned 06-26, finishes 06-29): S1 1, S2 1. WO2 not yet due.
first_pass_yield: WO4 50 / 50 (S1), WO6 90 / (90 + 10) (S2): all 140 / 150.

Inventory days on hand (RM1 costs 4 a unit; FG1 has no standard cost and is left out):
L1 (S1) received 100 on 05-20, 30 issued to WO1 on 06-18: 70 x 4 = 280 on hand at A, 30 x 4 = 120 used.
L2 (S2) received 50 on 05-20, 10 issued to WO6 on 06-24: 40 x 4 = 160 on hand, 10 x 4 = 40 used.
Per day over 30 days: S1 4, S2 4 / 3, all 16 / 3. Days: S1 280 / 4 = 70, S2 160 / (4 / 3) = 120,
all 440 / (16 / 3) = 82.5. At 06-15 nothing was used yet in (05-16, 06-15]: null everywhere.

PO lines (SUP1, RM1), acknowledgment days = local ack date - order date:
PO   site  ordered  acknowledged      days
PA   S1    06-02    06-04 10:00       2
PB   S1    06-10    06-10 16:00       0
PE   S1    06-26    06-29 08:00       3
PC   S2    06-05    06-12 09:00       7
PD   S2    06-25    -                 (unacknowledged)
PF   S2    06-15    -                 cancelled: in neither KPI
At A: supplier_ack_days_p50 S1 median(0, 2, 3) = 2, S2 7, all median(0, 2, 3, 7) = 2.5;
unacknowledged_po_lines S1 0, S2 1 (PD), all 1.
At 06-27 (PE acknowledged only on 06-29): p50 S1 median(0, 2) = 1, S2 7, all median(0, 2, 7) = 2;
unacknowledged S1 1 (PE), S2 1 (PD), all 2.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

AS_OF = dt.date(2026, 6, 30)

T = dt.datetime


def _wo(wo_id: str, site: str, status: str, planned_end: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {
        "wo_id": wo_id,
        "material_id": "FG1",
        "site_id": site,
        "qty_planned": 100,
        "status": status,
        "planned_start": planned_end - dt.timedelta(days=3),
        "planned_end": planned_end,
        **extra,
    }


ROWS: dict[str, list[dict[str, Any]]] = {
    "sites": [
        {"site_id": "S1", "name": "Berlin", "country": "DE", "timezone": "Europe/Berlin"},
        {"site_id": "S2", "name": "Suzhou", "country": "CN", "timezone": "Asia/Shanghai"},
    ],
    "materials": [
        {
            "material_id": "RM1",
            "description": "Polymer tube",
            "standard_cost": 4,
            "material_type": "component",
            "uom": "EA",
            "lot_controlled": True,
            "serial_controlled": False,
            "status": "active",
        },
        {
            "material_id": "FG1",
            "description": "Infusion set",
            "material_type": "finished_good",
            "uom": "EA",
            "lot_controlled": True,
            "serial_controlled": False,
            "status": "active",
        },
    ],
    "suppliers": [{"supplier_id": "SUP1", "name": "Tubes Ltd", "approval_status": "approved"}],
    "purchase_orders": [
        {
            "po_id": po,
            "po_line": 1,
            "supplier_id": "SUP1",
            "material_id": "RM1",
            "site_id": site,
            "qty_ordered": 10,
            "order_date": ordered,
            "requested_date": dt.date(2026, 8, 1),
            "acknowledged_at": acknowledged,
            "status": status,
        }
        for po, site, ordered, acknowledged, status in (
            ("PA", "S1", dt.date(2026, 6, 2), T(2026, 6, 4, 10, 0), "open"),
            ("PB", "S1", dt.date(2026, 6, 10), T(2026, 6, 10, 16, 0), "open"),
            ("PE", "S1", dt.date(2026, 6, 26), T(2026, 6, 29, 8, 0), "open"),
            ("PC", "S2", dt.date(2026, 6, 5), T(2026, 6, 12, 9, 0), "open"),
            ("PD", "S2", dt.date(2026, 6, 25), None, "open"),
            ("PF", "S2", dt.date(2026, 6, 15), None, "cancelled"),
        )
    ],
    "inventory_movements": [
        {
            "movement_id": mv,
            "moved_at": moved,
            "site_id": site,
            "material_id": "RM1",
            "lot_id": lot,
            "qty": qty,
            "movement_type": kind,
            "reference_type": "wo" if wo else None,
            "reference_id": wo,
        }
        for mv, moved, site, lot, qty, kind, wo in (
            ("MV1", T(2026, 5, 20, 8, 0), "S1", "L1", 100, "receipt", None),
            ("MV2", T(2026, 5, 20, 8, 0), "S2", "L2", 50, "receipt", None),
            ("MV3", T(2026, 6, 18, 9, 0), "S1", "L1", -30, "issue", "WO1"),
            ("MV4", T(2026, 6, 24, 9, 0), "S2", "L2", -10, "issue", "WO6"),
        )
    ],
    "lots": [
        {
            "lot_id": lot,
            "material_id": "RM1",
            "site_id": site,
            "origin": "received",
            "supplier_id": "SUP1",
            "status": "released",
            "status_changed_at": T(2026, 5, 20, 9, 0),
        }
        for lot, site in (("L1", "S1"), ("L2", "S2"))
    ],
    "inspections": [
        {
            "inspection_id": iid,
            "lot_id": lot,
            "material_id": "RM1",
            "inspection_type": "incoming",
            "started_at": T(2026, 6, day, 8, 0),
            "completed_at": T(2026, 6, day, 12, 0),
            "result": result,
        }
        for iid, lot, day, result in (
            ("I1", "L1", 10, "pass"),
            ("I2", "L2", 12, "fail"),
            ("I3", "L2", 14, "pass"),
        )
    ],
    "nonconformances": [
        {
            "ncr_id": ncr,
            "opened_at": opened,
            "closed_at": closed,
            "source": "incoming" if lot else "in_process",
            "material_id": "RM1",
            "lot_id": lot,
            "defect_code": "DIM",
            "severity": "major",
            "status": "closed" if closed else "open",
            "capa_id": capa,
        }
        for ncr, lot, opened, closed, capa in (
            ("NA", "L1", T(2026, 6, 5, 9, 0), None, "KA"),
            ("NB", "L2", T(2026, 6, 10, 9, 0), T(2026, 6, 20, 9, 0), None),
            ("NC", None, T(2026, 6, 12, 9, 0), None, "KB"),
            ("ND", "L2", T(2026, 6, 25, 9, 0), None, "KC"),
            ("NE", "L1", T(2026, 6, 1, 9, 0), T(2026, 6, 3, 9, 0), "KC"),
        )
    ],
    "capas": [
        {
            "capa_id": capa,
            "opened_at": T(2026, 6, 1, 9, 0),
            "due_date": due,
            "source": "ncr",
            "status": "action",
        }
        for capa, due in (
            ("KA", dt.date(2026, 6, 10)),
            ("KB", dt.date(2026, 6, 15)),
            ("KC", dt.date(2026, 6, 20)),
            ("KD", dt.date(2026, 7, 15)),
        )
    ],
    "work_orders": [
        _wo("WO1", "S1", "in_progress", T(2026, 6, 20, 16, 0), actual_start=T(2026, 6, 17, 8, 0)),
        _wo("WO2", "S2", "released", T(2026, 6, 30, 10, 0)),
        _wo("WO3", "S2", "planned", T(2026, 7, 10, 16, 0)),
        _wo(
            "WO4",
            "S1",
            "completed",
            T(2026, 6, 28, 16, 0),
            actual_start=T(2026, 6, 24, 8, 0),
            actual_end=T(2026, 6, 25, 15, 0),
            qty_completed=50,
            qty_scrapped=0,
        ),
        _wo("WO5", "S1", "cancelled", T(2026, 6, 10, 16, 0)),
        _wo(
            "WO6",
            "S2",
            "completed",
            T(2026, 6, 26, 16, 0),
            actual_start=T(2026, 6, 23, 8, 0),
            actual_end=T(2026, 6, 29, 12, 0),
            qty_completed=90,
            qty_scrapped=10,
        ),
    ],
}
