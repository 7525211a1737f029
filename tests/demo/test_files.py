"""The drop folder as files: complete, canonical headers, deterministic, bad rows exactly where stated."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import time
from pathlib import Path

import pytest

from ingest.demo import generate

from .feed import CONTRACT, Feed, columns, gs1_ok, parse_gs1

ENTITIES = list(CONTRACT["entities"])


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_inputs_give_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    args = {"scale": 0.05, "as_of": dt.date(2026, 3, 1)}
    generate(tmp_path / "a", seed=5, **args)
    generate(tmp_path / "b", seed=5, **args)
    generate(tmp_path / "c", seed=6, **args)
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert a == b
    assert len(a) == len(ENTITIES) + 1
    differing = [name for name in a if a[name] != c[name]]
    assert "inventory_movements.csv" in differing and "sales_orders.csv" in differing


def test_every_entity_file_has_the_contract_header_utf8_and_lf(small: Feed) -> None:
    for entity in ENTITIES:
        data = (small.dir / f"{entity}.csv").read_bytes()
        assert b"\r\n" not in data, entity
        text = data.decode("utf-8")
        header = next(csv.reader([text.split("\n", 1)[0]]))
        expected = columns(entity) + (["erp_plant_code"] if entity == "materials" else [])
        assert header == expected, entity
        # split on LF only: str.splitlines() would also split on the GS (0x1D) inside GS1 payloads
        rows = list(csv.reader(text.rstrip("\n").split("\n")[1:]))
        assert all(len(r) == len(header) for r in rows), entity


def test_manifest_rows_count_every_entity(small: Feed) -> None:
    assert small.returned == small.manifest
    assert list(small.manifest["rows"]) == ENTITIES
    for entity in ENTITIES:
        assert small.manifest["rows"][entity] == len(small.raw(entity)), entity
        # supplier invoices reach MedTower as EDI 810 only (medtower demo --ports); the CSV is a header
        assert (small.manifest["rows"][entity] > 0) != (entity == "supplier_invoices"), entity


def test_small_scale_is_small_and_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    manifest = generate(tmp_path, seed=1, scale=0.05, as_of=dt.date(2026, 1, 31))
    assert time.perf_counter() - started < 5
    assert 1_000 < sum(manifest["rows"].values()) < 25_000


def test_volume_grows_with_scale(small: Feed, mid: Feed) -> None:
    ratio = mid.manifest["rows"]["inventory_movements"] / small.manifest["rows"]["inventory_movements"]
    assert 2.5 < ratio < 5.5
    assert mid.manifest["rows"]["suppliers"] == small.manifest["rows"]["suppliers"]


# --- an independent validator: every violation it finds must be a manifest bad row, and vice versa ----

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})?$")


def _value_ok(spec: dict, value: str) -> bool:
    kind = spec["type"]
    try:
        if kind == "int":
            int(value)
        elif kind == "decimal":
            float(value)
        elif kind == "bool":
            return value in ("true", "false")
        elif kind == "date":
            return bool(DATE.match(value)) and bool(dt.date.fromisoformat(value))
        elif kind == "timestamp":
            return bool(TS.match(value)) and bool(dt.datetime.fromisoformat(value))
    except ValueError:
        return False
    return "enum" not in spec or value in spec["enum"]


def _violations(feed: Feed) -> dict[tuple[str, int], set[str]]:
    """(entity, line) -> the columns that break the contract on that line."""
    found: dict[tuple[str, int], set[str]] = {}

    def flag(entity: str, line: int, col: str) -> None:
        found.setdefault((entity, int(line)), set()).add(col)

    lots = set(feed.raw("lots")["lot_id"])
    for entity, spec in CONTRACT["entities"].items():
        df = feed.raw(entity)
        for col, cspec in spec["columns"].items():
            for value, line in zip(df[col], df["_line"], strict=True):
                if value == "":
                    if cspec.get("required"):
                        flag(entity, line, col)
                elif not _value_ok(cspec, value) or (
                    col in ("lot_id", "component_lot_id") and value not in lots
                ):
                    flag(entity, line, col)
    mats = feed.raw("materials")
    for gtin, line in zip(mats["gtin"], mats["_line"], strict=True):
        if gtin and not gs1_ok(gtin):
            flag("materials", line, "gtin")
    scans = feed.raw("scans")
    for payload, line in zip(scans["payload"], scans["_line"], strict=True):
        if not gs1_ok(parse_gs1(payload)["01"]):
            flag("scans", line, "payload")
    return found


def test_bad_rows_are_exactly_where_the_manifest_says(small: Feed) -> None:
    stated = {(b["entity"], b["line"]) for b in small.manifest["bad_rows"]}
    assert 6 <= len(stated) <= 10
    assert len({b["entity"] for b in small.manifest["bad_rows"]}) >= 6
    found = _violations(small)
    assert set(found) == stated
    for b in small.manifest["bad_rows"]:
        assert found[(b["entity"], b["line"])] == {b["column"]}, b  # one fault per bad row
    for b in small.manifest["bad_rows"]:
        lines = (small.dir / b["file"]).read_text(encoding="utf-8").split("\n")
        row = next(csv.reader([lines[b["line"] - 1]]))
        assert len(row) == len(small.raw(b["entity"]).columns) - 1


def test_nothing_good_refers_to_a_bad_row(small: Feed) -> None:
    bad_keys = {}
    for b in small.manifest["bad_rows"]:
        key = columns(b["entity"])[0]
        row = small.raw(b["entity"]).set_index("_line").loc[b["line"]]
        bad_keys.setdefault(key, set()).add(row[key])
    for entity in ENTITIES:
        good = small.good(entity)
        for col in good.columns:
            if col in bad_keys and entity not in {
                b["entity"] for b in small.manifest["bad_rows"] if columns(b["entity"])[0] == col
            }:
                assert not set(good[col]) & bad_keys[col], (entity, col)


def test_clean_run_has_no_bad_rows(clean: Feed) -> None:
    assert clean.manifest["bad_rows"] == []
    assert _violations(clean) == {}


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_scale_must_be_positive(tmp_path: Path, scale: float) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate(tmp_path, scale=scale)
