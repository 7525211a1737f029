"""The status history of a lot with the reason of every hold, past and present (fct_lot_status_periods),
built by dbt for real on a hand-made plant, and the lot drill-down's table read from it.

Site S1, material RESIN (received from SUP1). Times are site-local; every answer is worked out here.

LH  held twice for two reasons:
        06-01 08:00 received (M-LH)                       -> quarantine, awaiting incoming inspection
        06-02 15:00 INS-H1 incoming pass
        06-03 09:00 QA released by qa.anna, no reason     -> released
        06-10 09:00 QA on hold by qa.ben "supplier notice: resin change"
        06-15 09:00 QA released by qa.anna "supplier confirmed no change"
        06-20 09:00 QA on hold by qa.carl "complaint CMP-1 under review"  (still in force)
        lot master: on_hold at 06-20 09:00, the ERP's copy of the last decision: no period of its own.
        NCR-H (minor, open since 06-19) is on the lot, but QA's reason is the reason of the last hold.
LQ  quarantined by a failed inspection:
        06-05 08:00 received (M-LQ); INS-Q1 incoming fail completed 06-06 14:00, 3 defects in a sample of 32;
        lot master: quarantine at 06-06 14:30 (restates the status: no new period).
        -> one period, quarantine from 06-05 08:00, reason "failed incoming inspection INS-Q1 (3 defects in
           a sample of 32)".
LR  rejected by an NCR:
        06-08 08:00 received (M-LR); 06-09 13:00 QA released by qa.anna;
        NCR-R opened 06-12 10:00 (BURR, major, disposition scrap), closed 06-14 16:00;
        lot master: rejected at 06-14 16:00, no QA decision.
        -> quarantine (awaiting incoming inspection: NCR-R opened after the release), released (qa.anna),
           rejected from 06-14 16:00 with reason "NCR NCR-R BURR (major; disposition scrap)".
LN  held with a blank reason and nothing else on record:
        06-02 08:00 received (M-LN); 06-04 11:00 QA on hold by qa.ben, reason "  "
        -> on hold, "the feed gives no reason", decided by qa.ben.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pytest

from tests.conftest import build_plant

pytestmark = pytest.mark.e2e

AS_OF = dt.date(2026, 6, 30)


def _ts(day: str, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2026-{day}").replace(hour=hour, minute=minute)


def _lot(lot_id: str, status: str, changed_at: dt.datetime, received_at: dt.datetime) -> dict[str, list[Any]]:
    return {
        "lots": [
            {
                "lot_id": lot_id,
                "material_id": "RESIN",
                "site_id": "S1",
                "origin": "received",
                "supplier_id": "SUP1",
                "status": status,
                "status_changed_at": changed_at,
            }
        ],
        "inventory_movements": [
            {
                "movement_id": f"M-{lot_id}",
                "moved_at": received_at,
                "site_id": "S1",
                "material_id": "RESIN",
                "lot_id": lot_id,
                "qty": 100,
                "movement_type": "receipt",
                "reference_type": "po",
                "reference_id": "PO-1",
                "reference_line": 1,
            }
        ],
    }


def _decision(lot_id: str, at: dt.datetime, decision: str, by: str, reason: str | None) -> dict[str, Any]:
    return {"lot_id": lot_id, "decided_at": at, "decision": decision, "decided_by": by, "reason": reason}


def _inspection(ins: str, lot_id: str, done: dt.datetime, result: str, defects: int) -> dict[str, Any]:
    return {
        "inspection_id": ins,
        "lot_id": lot_id,
        "material_id": "RESIN",
        "inspection_type": "incoming",
        "started_at": done - dt.timedelta(hours=4),
        "completed_at": done,
        "sample_size": 32,
        "defects_found": defects,
        "result": result,
        "inspector": "a.byrne",
    }


def _ncr(ncr: str, lot_id: str, opened: dt.datetime, closed: dt.datetime | None, **kw: Any) -> dict[str, Any]:
    return {
        "ncr_id": ncr,
        "opened_at": opened,
        "closed_at": closed,
        "source": "in_process",
        "material_id": "RESIN",
        "lot_id": lot_id,
        "supplier_id": "SUP1",
        "status": "closed" if closed else "open",
        **kw,
    }


def _rows() -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {
        "sites": [{"site_id": "S1", "name": "Galway", "country": "IE", "timezone": "Europe/Dublin"}],
        "materials": [
            {
                "material_id": "RESIN",
                "description": "Resin",
                "material_type": "raw",
                "uom": "KG",
                "lot_controlled": True,
                "serial_controlled": False,
                "status": "active",
            }
        ],
        "suppliers": [{"supplier_id": "SUP1", "name": "Resins Ltd", "approval_status": "approved"}],
        "lots": [],
        "inventory_movements": [],
    }
    for lot in (
        _lot("LH", "on_hold", _ts("06-20", 9), _ts("06-01", 8)),
        _lot("LQ", "quarantine", _ts("06-06", 14, 30), _ts("06-05", 8)),
        _lot("LR", "rejected", _ts("06-14", 16), _ts("06-08", 8)),
        _lot("LN", "on_hold", _ts("06-04", 11), _ts("06-02", 8)),
    ):
        for table, table_rows in lot.items():
            rows[table] += table_rows
    rows["lot_releases"] = [
        _decision("LH", _ts("06-03", 9), "released", "qa.anna", None),
        _decision("LH", _ts("06-10", 9), "on_hold", "qa.ben", "supplier notice: resin change"),
        _decision("LH", _ts("06-15", 9), "released", "qa.anna", "supplier confirmed no change"),
        _decision("LH", _ts("06-20", 9), "on_hold", "qa.carl", "complaint CMP-1 under review"),
        _decision("LR", _ts("06-09", 13), "released", "qa.anna", None),
        _decision("LN", _ts("06-04", 11), "on_hold", "qa.ben", "  "),
    ]
    rows["inspections"] = [
        _inspection("INS-H1", "LH", _ts("06-02", 15), "pass", 0),
        _inspection("INS-Q1", "LQ", _ts("06-06", 14), "fail", 3),
        _inspection("INS-R1", "LR", _ts("06-09", 12), "pass", 0),
    ]
    rows["nonconformances"] = [
        _ncr("NCR-H", "LH", _ts("06-19", 10), None, defect_code="ODOR", severity="minor"),
        _ncr(
            "NCR-R",
            "LR",
            _ts("06-12", 10),
            _ts("06-14", 16),
            defect_code="BURR",
            severity="major",
            disposition="scrap",
        ),
    ]
    return rows


def _at(stamp: str | None) -> dt.datetime | None:
    """'06-03 09' or '06-06 14:30' in 2026, site-local."""
    return None if stamp is None else dt.datetime.fromisoformat(f"2026-{stamp.replace(' ', 'T')}")


def _period(
    status: str,
    valid_from: str,
    valid_to: str | None,
    record: str,
    *,
    by: str | None = None,
    reason: str | None = None,
    source: str = "none",
    inspections: str | None = None,
    ncrs: str | None = None,
) -> tuple[Any, ...]:
    """One expected row: status, valid_from, valid_to, event_source, decided_by, reason, reason_source,
    failed_inspection_ids, ncr_ids, source_record_id. The event source follows from the record's id."""
    event = (
        "lot_release" if " @ " in record else "arrival" if record.startswith("M-") else "lot_current_status"
    )
    return (status, _at(valid_from), _at(valid_to), event, by, reason, source, inspections, ncrs, record)


AWAIT = {"reason": "awaiting incoming inspection", "source": "arrival"}
EXPECTED = {
    ("LH", 1): _period("quarantine", "06-01 08", "06-03 09", "M-LH", **AWAIT),
    ("LH", 2): _period("released", "06-03 09", "06-10 09", "LH @ 2026-06-03 09:00:00", by="qa.anna"),
    ("LH", 3): _period(
        "on_hold",
        "06-10 09",
        "06-15 09",
        "LH @ 2026-06-10 09:00:00",
        by="qa.ben",
        reason="supplier notice: resin change",
        source="qa_decision",
    ),
    ("LH", 4): _period(
        "released",
        "06-15 09",
        "06-20 09",
        "LH @ 2026-06-15 09:00:00",
        by="qa.anna",
        reason="supplier confirmed no change",
        source="qa_decision",
    ),
    ("LH", 5): _period(
        "on_hold",
        "06-20 09",
        None,
        "LH @ 2026-06-20 09:00:00",
        by="qa.carl",
        reason="complaint CMP-1 under review",
        source="qa_decision",
    ),
    ("LQ", 1): _period(
        "quarantine",
        "06-05 08",
        None,
        "M-LQ",
        reason="failed incoming inspection INS-Q1 (3 defects in a sample of 32)",
        source="quality_records",
        inspections="INS-Q1",
    ),
    ("LR", 1): _period("quarantine", "06-08 08", "06-09 13", "M-LR", **AWAIT),
    ("LR", 2): _period("released", "06-09 13", "06-14 16", "LR @ 2026-06-09 13:00:00", by="qa.anna"),
    ("LR", 3): _period(
        "rejected",
        "06-14 16",
        None,
        "LR",
        reason="NCR NCR-R BURR (major; disposition scrap)",
        source="quality_records",
        ncrs="NCR-R",
    ),
    ("LN", 1): _period("quarantine", "06-02 08", "06-04 11", "M-LN", **AWAIT),
    ("LN", 2): _period(
        "on_hold",
        "06-04 11",
        None,
        "LN @ 2026-06-04 11:00:00",
        by="qa.ben",
        reason="the feed gives no reason",
    ),
}


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("lot_history")
    db_path, _ = build_plant(root, _rows(), AS_OF, "+fct_lot_status_periods", "+dim_lots", "+dim_materials")
    with duckdb.connect(str(db_path), read_only=True) as connection:
        yield connection


def test_every_period_has_its_status_decider_and_reason(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """
        select lot_id, period_seq, status, valid_from, valid_to, event_source, decided_by, reason,
               reason_source, failed_inspection_ids, ncr_ids, source_record_id
        from marts.fct_lot_status_periods order by lot_id, period_seq
        """
    ).fetchall()
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert got == EXPECTED


def test_the_periods_are_the_lot_and_site_and_the_current_one_is_last(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select lot_id, material_id, site_id, is_current, decision from marts.fct_lot_status_periods"
        " order by lot_id, period_seq"
    ).fetchall()
    assert {(r[1], r[2]) for r in rows} == {("RESIN", "S1")}
    current = [r[0] for r in rows if r[3]]
    assert sorted(current) == ["LH", "LN", "LQ", "LR"]  # one period in force per lot
    decisions = [(r[0], r[4]) for r in rows if r[4] is not None]
    assert decisions == [
        ("LH", "released"),
        ("LH", "on_hold"),
        ("LH", "released"),
        ("LH", "on_hold"),
        ("LN", "on_hold"),
        ("LR", "released"),
    ]


def test_the_drill_down_table_says_why_for_every_hold(con: duckdb.DuckDBPyConnection) -> None:
    from dashboards.drilldown_data import lot_status_history

    lh = lot_status_history(con, "LH")
    assert list(lh.columns) == ["from", "to", "status", "why", "source_record"]
    assert list(lh["why"]) == [
        "in quarantine - awaiting incoming inspection",
        "released (decided by qa.anna on 2026-06-03)",
        "on hold - QA: supplier notice: resin change (decided by qa.ben on 2026-06-10)",
        "released - QA: supplier confirmed no change (decided by qa.anna on 2026-06-15)",
        "on hold - QA: complaint CMP-1 under review (decided by qa.carl on 2026-06-20)",
    ]
    assert [str(v)[:16] for v in lh["from"]] == [
        "2026-06-01 08:00",
        "2026-06-03 09:00",
        "2026-06-10 09:00",
        "2026-06-15 09:00",
        "2026-06-20 09:00",
    ]
    assert list(lot_status_history(con, "LQ")["why"]) == [
        "in quarantine - failed incoming inspection INS-Q1 (3 defects in a sample of 32)"
    ]
    assert (
        list(lot_status_history(con, "LR")["why"])[-1]
        == "rejected - NCR NCR-R BURR (major; disposition scrap)"
    )
    assert list(lot_status_history(con, "LN")["why"])[-1] == (
        "on hold - the feed gives no reason (decided by qa.ben on 2026-06-04)"
    )
    assert lot_status_history(con, "NO-SUCH-LOT").empty
