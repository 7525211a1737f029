"""Demo plant health under the time-phased netting of kpi-definitions.md ("Shortages").

The netting is computed by the independent oracle in tests/e2e/feed_oracle.py, straight from the CSV
files. First the oracle itself is checked on a plant small enough to net by hand; then every demo
(several seeds and scales) must show exceptions (net requirements inside the lead time) only where the
manifest plants a shortage: a healthy material must not look short.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from ingest.demo import generate
from tests.e2e import feed_oracle

from .feed import Feed

A = dt.date(2026, 3, 2)

# A hand-built plant at sites P1 and P2. FG is made from SA, NDL (needle) and PK (carton); SA from NDL.
HAND_PLANT = {
    "materials": """material_id,planned_lead_time_days
FG,5
SA,3
NDL,30
PK,10
""",
    # FG rev A until 03-09 takes 2 needles, rev B from 03-10 takes 3
    "bom": """parent_material_id,component_material_id,qty_per,revision,effective_from,effective_to
FG,SA,1,A,2025-01-01,2026-03-09
FG,NDL,2,A,2025-01-01,2026-03-09
FG,PK,1,A,2025-01-01,2026-03-09
FG,SA,1,B,2026-03-10,
FG,NDL,3,B,2026-03-10,
FG,PK,1,B,2026-03-10,
SA,NDL,1,A,2025-01-01,
""",
    "suppliers": """supplier_id,approval_status
S1,approved
S2,disqualified
S3,approved
""",
    # NDL: S1 20 days counts; S2 (10) is disqualified, S3 (5) not approved for it; own 30 is ignored
    "approved_suppliers": """supplier_id,material_id,approved,planned_lead_time_days
S1,NDL,true,20
S2,NDL,true,10
S3,NDL,false,5
""",
    "lots": """lot_id,material_id,site_id,status,expiry_date
L1,NDL,P1,released,2026-03-05
L2,NDL,P1,released,
L3,NDL,P1,quarantine,
L4,NDL,P1,released,2026-03-01
L5,NDL,P1,consumed,
LF1,FG,P1,released,2028-01-01
""",
    "inventory_movements": "movement_id,moved_at,site_id,material_id,lot_id,qty,movement_type,"
    + """reference_type,reference_id,reference_line
M1,2026-02-01T09:00:00,P1,NDL,L1,100,receipt,po,PO0,1
M2,2026-02-01T09:00:00,P1,NDL,L2,110,receipt,po,PO0,2
M3,2026-02-27T09:00:00,P1,NDL,L2,-60,issue,wo,WO2,
M4,2026-02-01T09:00:00,P1,NDL,L3,500,receipt,po,PO0,4
M5,2026-01-01T09:00:00,P1,NDL,L4,40,receipt,po,PO0,5
M6,2026-02-01T09:00:00,P1,PK,,30,receipt,po,PO0,3
M7,2026-02-27T09:00:00,P1,PK,,-10,issue,wo,WO2,
M8,2026-02-20T09:00:00,P1,FG,LF1,10,production_output,wo,WO0,
M9,2026-02-25T09:00:00,P1,NDL,L5,30,receipt,po,PO2,1
M10,2026-02-26T09:00:00,P1,NDL,L5,-30,issue,wo,WO0,
""",
    "purchase_orders": """po_id,po_line,material_id,site_id,qty_ordered,requested_date,confirmed_date,status
PO0,1,NDL,P1,100,2026-02-01,,received
PO1,1,NDL,P1,100,2026-02-25,,open
PO2,1,NDL,P1,100,2026-03-01,2026-03-09,partially_received
PO3,1,NDL,P1,1000,2026-03-03,,cancelled
PO4,1,PK,P1,100,2026-03-20,,open
""",
    "work_orders": """wo_id,material_id,site_id,qty_planned,qty_completed,status,planned_start,planned_end
WO0,FG,P1,10,10,completed,2026-02-18T08:00:00,2026-02-20T08:00:00
WO1,SA,P1,60,,released,2026-03-03T08:00:00,2026-03-04T16:00:00
WO2,FG,P1,30,,in_progress,2026-02-27T08:00:00,2026-03-06T12:00:00
WO3,FG,P1,80,,planned,2026-03-10T06:00:00,2026-03-12T18:00:00
WO5,FG,P1,500,,cancelled,2026-03-03T06:00:00,2026-03-05T18:00:00
WO6,FG,P1,10,,planned,2026-04-01T07:00:00,2026-04-03T07:00:00
WO7,FG,P2,5,,released,2026-03-05T07:00:00,2026-03-07T07:00:00
""",
    "sales_orders": """so_id,so_line,material_id,site_id,qty,requested_date,promised_date,status
SO1,1,FG,P1,25,2026-03-05,2026-03-06,partially_shipped
SO2,1,FG,P1,40,2026-03-11,,open
SO3,1,FG,P1,10,2026-02-20,,shipped
""",
    "shipments": """shipment_id,so_id,so_line,qty
SH1,SO1,1,5
SH2,SO3,1,10
""",
}

# Netted by hand (A = 2026-03-02; "at A" = an event dated before A, netted as of A):
# NDL P1 (lead 20): at A lots L1 100 (exp 03-05) and L2 50 (L3 quarantined, L4 expired 03-01, L5 empty)
#   and overdue PO1 100. 03-03 WO1 needs 60: L1 first (earlier expiry) -> L1 40. 03-09 PO2 confirmed,
#   100 - 30 received = 70 -> other supply 170. 03-10 WO3 rev B 80x3 = 240: L1 has expired, L2 50, then
#   190 of 170 -> short 20 (03-10 <= A + 20: exception). Balance restarts at 0; 04-01 WO6 10x3 = 30 short
#   (action, order by 04-01 - 20 = 03-12). WO2 (rev A, 30x2 = 60) had all 60 issued.
# NDL P2: WO7 rev A 5x2 = 10 at 03-05, no stock there: exception.
# PK P1 (lead 10, no supplier list): loose stock 30 - 10 = 20 at A; WO2 needs 30 - 10 issued = 20 -> 0;
#   03-10 WO3 80 short 80 (<= 03-12: exception); PO4 100 on 03-20 covers WO6 10 on 04-01.
# PK P2: WO7 5 at 03-05: exception.
# SA P1 (made, lead 3): WO2 needs 30 (past due 02-27, netted at A, keeps its date): exception 30;
#   03-04 WO1 makes 60; 03-10 WO3 needs 80 -> short 20 (action, 03-10 > 03-05); 04-01 WO6 10 (action).
# SA P2: WO7 5 at 03-05 (<= 03-05): exception.
# FG P1 (lead 5): lot LF1 10 at A; 03-06 WO2 makes 30, then SO1 needs 25 - 5 shipped = 20 at its
#   promised date: LF1 10 + 10 of WO2 -> 20 left; 03-11 SO2 needs 40 -> short 20 (action, 03-11 > 03-07).
#   The cancelled WO5 neither supplies nor needs anything.
EXPECTED = [
    ("FG", "P1", "2026-03-11", 20.0, "action", 5, "2026-03-06", "so:SO2/1"),
    ("NDL", "P1", "2026-03-10", 20.0, "exception", 20, "2026-02-18", "wo:WO3"),
    ("NDL", "P1", "2026-04-01", 30.0, "action", 20, "2026-03-12", "wo:WO6"),
    ("NDL", "P2", "2026-03-05", 10.0, "exception", 20, "2026-02-13", "wo:WO7"),
    ("PK", "P1", "2026-03-10", 80.0, "exception", 10, "2026-02-28", "wo:WO3"),
    ("PK", "P2", "2026-03-05", 5.0, "exception", 10, "2026-02-23", "wo:WO7"),
    ("SA", "P1", "2026-02-27", 30.0, "exception", 3, "2026-02-24", "wo:WO2"),
    ("SA", "P1", "2026-03-10", 20.0, "action", 3, "2026-03-07", "wo:WO3"),
    ("SA", "P1", "2026-04-01", 10.0, "action", 3, "2026-03-29", "wo:WO6"),
    ("SA", "P2", "2026-03-05", 5.0, "exception", 3, "2026-03-02", "wo:WO7"),
]


def _write_plant(folder: Path, files: dict[str, str]) -> feed_oracle.Feed:
    folder.mkdir(parents=True, exist_ok=True)
    for entity, text in files.items():
        (folder / f"{entity}.csv").write_text(text, encoding="utf-8")
    (folder / "_demo_manifest.json").write_text(json.dumps({"bad_rows": []}), encoding="utf-8")
    return feed_oracle.Feed(folder)


def _rows(frame: pd.DataFrame) -> list[tuple]:
    return [
        (
            r.material_id,
            r.site_id,
            str(r.need_date),
            r.shortage_qty,
            r.kind,
            r.lead_time_days,
            str(r.order_by),
            r.source,
        )
        for r in frame.itertuples()
    ]


def test_oracle_nets_a_hand_built_plant(tmp_path: Path) -> None:
    got = feed_oracle.net_requirements(_write_plant(tmp_path, HAND_PLANT), A)
    assert _rows(got) == EXPECTED


def test_oracle_same_date_supply_comes_before_demand(tmp_path: Path) -> None:
    """WO2 finishes on 03-06, the day SO1 is promised: its 30 count for SO1. Were SO1 netted first, it
    would take LF1's 10 and fall 10 short on 03-06, inside FG's 5-day lead time; moving WO2's end a day
    later makes exactly that happen."""
    files = dict(HAND_PLANT)
    files["work_orders"] = files["work_orders"].replace(
        "WO2,FG,P1,30,,in_progress,2026-02-27T08:00:00,2026-03-06T12:00:00",
        "WO2,FG,P1,30,,in_progress,2026-02-27T08:00:00,2026-03-07T12:00:00",
    )
    got = feed_oracle.net_requirements(_write_plant(tmp_path, files), A)
    fg = _rows(got[got["material_id"] == "FG"])
    # 03-06: LF1 10 - 20 -> short 10 (<= A + 5: exception); 03-07 WO2 30; 03-11 SO2 40 -> short 10
    assert fg == [
        ("FG", "P1", "2026-03-06", 10.0, "exception", 5, "2026-03-01", "so:SO1/1"),
        ("FG", "P1", "2026-03-11", 10.0, "action", 5, "2026-03-06", "so:SO2/1"),
    ]


def _exceptions(folder: Path, as_of: dt.date) -> pd.DataFrame:
    nr = feed_oracle.net_requirements(feed_oracle.Feed(folder), as_of)
    return nr[nr["kind"] == "exception"]


def _assert_only_planted(folder: Path, planted: dict, as_of: dt.date) -> None:
    ex = _exceptions(folder, as_of)
    short = planted["shortage"]
    where = set(zip(ex["material_id"], ex["site_id"], strict=True))
    assert where == {(short["material_id"], short["site_id"])}, ex.groupby(["material_id", "site_id"]).size()
    # each planted work order is itself hit inside the lead time
    hit = set(ex["source"])
    assert {f"wo:{w}" for w in short["planted_work_orders"]} <= hit


def test_demo_plant_is_short_only_where_planted(feed: Feed) -> None:
    _assert_only_planted(feed.dir, feed.planted, feed.as_of)


@pytest.mark.slow
def test_the_default_demo_is_short_only_where_planted(scale1: Feed) -> None:
    _assert_only_planted(scale1.dir, scale1.planted, scale1.as_of)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seed", "scale", "as_of"),
    [(3, 1.0, "2026-06-15"), (1, 0.2, "2026-12-01"), (2, 0.2, "2026-03-10"), (99, 0.02, "2024-12-31")],
)
def test_demo_plant_is_short_only_where_planted_at_other_seeds(
    tmp_path: Path, seed: int, scale: float, as_of: str
) -> None:
    day = dt.date.fromisoformat(as_of)
    manifest = generate(tmp_path, seed=seed, scale=scale, as_of=day)
    _assert_only_planted(tmp_path, manifest["planted"], day)
