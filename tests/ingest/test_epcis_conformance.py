"""Every EPCIS 2.0 document of ../shared/conformance/epcis/, read as SOURCES.md says it reads.

The expected rows are written out from SOURCES.md by hand: GTIN-14s and GLN-13s are worked out here from the
company prefix and item or location reference (GS1 Tag Data Standard: indicator digit first, then the mod-10
check digit), not by the code under test. Where MedTower decides differently from a plain reading of
SOURCES.md (events carrying an ``errorDeclaration``), ingest/README.md ("EPCIS 2.0") gives the standard's
reason, and the case here expects that decision.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingest.sources import load_sources
from ingest.sources.epcis import read_file
from ingest.sources.runner import pull_source
from medtower.epcis import EpcisError
from medtower.settings import Settings

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "epcis"
FILES = sorted(p.name for p in CORPUS.glob("*.json*"))
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no conformance corpus at {CORPUS}")


def _check(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def G(prefix: str, item: str) -> str:
    """GTIN-14 of sgtin / lgtin ``prefix.item``: the item reference's first digit is the indicator."""
    return _check(item[0] + prefix + item[1:])


def L(prefix: str, location: str) -> str:
    """GLN-13 of sgln / pgln ``prefix.location``."""
    return _check(prefix + location)


def summary(name: str) -> dict[str, set[tuple]]:
    """The rows read from a corpus file, as the few fields SOURCES.md speaks of."""
    reading = read_file(CORPUS / name)
    out: dict[str, set[tuple]] = {"notes": {n.split(": ", 1)[1].split(" (")[0] for n in reading.notes}}
    for (entity, _mode), rows in reading.rows.items():
        for r in rows:
            qty = Decimal(r["qty"]) if r.get("qty") else None
            if entity == "shipments":
                t: tuple = (r["material_id"], r["lot_id"], r["serial"], qty, r["so_id"])
            elif entity == "inventory_movements":
                t = (r["material_id"], r["lot_id"], r["serial"], qty, r["reference_id"])
            elif entity == "lots":
                t = (r["lot_id"], r["material_id"], r["origin"], r.get("supplier_id"))
            elif entity == "work_orders":
                t = (r["output_lot_id"], r["material_id"], Decimal(r["qty_planned"]))
            elif entity == "lot_consumption":
                t = (r["component_lot_id"], r["component_material_id"], qty)
            else:
                t = tuple(sorted(r.items()))
            out.setdefault(entity, set()).add(t)
    return out


RETRACTED = "declared erroneous"
NO_OUTPUT_LOT = "the outputs carry no lot"
EXPECTED: dict[str, dict[str, set[tuple]]] = {
    # event 1 ships serials 2017 and 2018 on po 12345678; event 2 receives 2018 only; no lots (instance ids)
    "Example_9.6.1-ObjectEvent.jsonld": {
        "shipments": {
            (G("0614141", "107346"), None, "2017", 1, "12345678"),
            (G("0614141", "107346"), None, "2018", 1, "12345678"),
        },
        "inventory_movements": {(G("0614141", "107346"), None, "2018", 1, "12345678")},
        "notes": set(),
    },
    # lot 998877 of 4012345.012345, 200 KGM received; source party sgln 4012345.00001.0
    "Example_9.6.2-ObjectEvent.jsonld": {
        "inventory_movements": {(G("4012345", "012345"), "998877", None, 200, None)},
        "lots": {("998877", G("4012345", "012345"), "received", L("4012345", "00001"))},
        "notes": set(),
    },
    # received in the pallet: serials 2017, 2018; the pattern 4012345.098765.* (10, no lot); lot 998877 200.5
    "Example_9.6.3-AggregationEvent.jsonld": {
        "inventory_movements": {
            (G("0614141", "107346"), None, "2017", 1, None),
            (G("0614141", "107346"), None, "2018", 1, None),
            (G("4012345", "098765"), None, None, 10, None),
            (G("4012345", "012345"), "998877", None, Decimal("200.5"), None),
        },
        "lots": {("998877", G("4012345", "012345"), "received", None)},
        "notes": set(),
    },
    # inputs: two serials, lot 4444 (10), lot 987 (30), the pattern 066666.* (220); outputs: four serials
    # of 077889 and no output lot (the ilmd keys are vendor extensions, not cbvmda:lotNumber)
    "Example_9.6.4-TransformationEvent.jsonld": {
        "work_orders": {(None, G("4012345", "077889"), 4)},
        "lot_consumption": {
            (None, G("4012345", "011122"), 1),
            (None, G("4000001", "065432"), 1),
            ("4444", G("4012345", "011111"), 10),
            ("987", G("0614141", "077777"), 30),
            (None, G("4012345", "066666"), 220),
        },
        "notes": {NO_OUTPUT_LOT},
    },
    # the first event is declared erroneous; the corrective event's 500 KGM is what loads
    "ErrorDeclarationAndCorrectiveEvent.jsonld": {
        "work_orders": {(None, G("4012345", "033333"), 1), (None, G("4012345", "044444"), 500)},
        "lot_consumption": {("87545GHGH", G("4012345", "022222"), 500), (None, G("4012345", "011111"), 1)},
        "notes": {RETRACTED, NO_OUTPUT_LOT, "2 outputs"},
    },
    # each of these carries an errorDeclaration: it retracts the event it repeats (README, "EPCIS 2.0")
    "object_event_all_possible_fields.jsonld": {"notes": {RETRACTED}},
    "transformation_event_all_possible_fields.jsonld": {"notes": {RETRACTED}},
    "aggregation_event_all_possible_fields.jsonld": {"notes": {RETRACTED}},
    "SensorDataExample12.jsonld": {"notes": {RETRACTED}},
}


@pytest.mark.parametrize("name", FILES)
def test_each_corpus_document_reads_as_expected(name: str) -> None:
    if name.startswith("INVALID"):
        # quantity "twenty" must be a number: refused, saying where
        with pytest.raises(EpcisError, match=r"quantityList\[0\]\.quantity: should be a JSON number"):
            read_file(CORPUS / name)
        return
    assert summary(name) == EXPECTED[name]


def test_the_corpus_has_the_ten_documents_sources_md_lists() -> None:
    assert len(FILES) == 10 and set(FILES) == {
        *EXPECTED,
        "INVALID_openepcis_ObjectEvent_with_quantity_as_text.json",
    }


def test_the_whole_corpus_through_a_pull(tmp_path: Path) -> None:
    """Pulled as a folder: the invalid one refused and quarantined as received, nine documents done."""
    shutil.copytree(CORPUS, tmp_path / "inbox")
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  corpus:\n    kind: epcis\n    path: inbox\n    entities:\n"
        + "".join(f"      {e}: {{}}\n" for e in ("lots", "work_orders", "inventory_movements"))
        + "      lot_consumption: {}\n      shipments: {}\n",
        encoding="utf-8",
    )
    (source,) = load_sources(tmp_path / "sources.yaml")
    con = duckdb.connect()
    result = pull_source(con, source, Settings(data_dir=tmp_path / "data"))
    assert result["outcome"] == "succeeded", result["error"]
    (failed,) = result["failed_files"]
    assert failed["file"] == "epcis:INVALID_openepcis_ObjectEvent_with_quantity_as_text.json"
    outcomes = dict(con.execute("SELECT outcome, count(*) FROM meta.source_items GROUP BY 1").fetchall())
    assert outcomes == {"loaded": 9, "rejected": 1}
    # no master data: every row read is quarantined (dangling GTIN / GLN), none is lost
    assert result["rows_loaded"] == 0 and result["rows_rejected"] == result["rows_read"] > 0
    reasons = [
        r[0] for r in con.execute("SELECT reason FROM meta.rejects WHERE file LIKE '%INVALID%'").fetchall()
    ]
    assert len(reasons) == 1 and "should be a JSON number (got 'twenty')" in reasons[0]
