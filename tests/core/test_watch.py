"""The scheduler's watcher: a file landing in the drop folder or a folder source's folder runs the
pipeline once it has settled; nothing new runs nothing. States worked out by hand tick by tick."""

from __future__ import annotations

import os
from pathlib import Path

from medtower.scheduler import Watcher, build_scheduler
from medtower.settings import Settings
from medtower.warehouse import prune_versions


def _sources(tmp_path: Path) -> Path:
    (tmp_path / "edi").mkdir()
    (tmp_path / "snap").mkdir()
    p = tmp_path / "sources.yaml"
    p.write_text(
        "sources:\n"
        "  edi:\n    kind: x12\n    path: edi\n    entities: {asn: {}}\n"
        "  erp:\n    kind: sql\n    entities: {suppliers: {table: vendors}}\n"
    )
    return p


def test_a_landing_file_triggers_once_it_has_settled(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "lots.csv").write_text("lot_id\n")
    settings = Settings(data_dir=tmp_path / "data", drop_dir=drop, sources=_sources(tmp_path))
    w = Watcher.for_settings(settings)
    assert set(w.folders) == {"edi"}  # the sql source has no folder to watch
    assert w.tick() == (False, [])  # what was there at start is what the first runs read

    (tmp_path / "edi" / "856_0001.edi").write_text("ISA*...")
    assert w.tick() == (False, [])  # seen once: it may still be being written
    assert w.tick() == (False, ["edi"])  # the same on the next tick: run
    assert w.tick() == (False, [])  # nothing new since

    (drop / "lots.csv").write_text("lot_id\nL-1\n")
    (tmp_path / "edi" / "856_0002.edi").write_text("ISA*")
    assert w.tick() == (False, [])
    (tmp_path / "edi" / "856_0002.edi").write_text("ISA*...~IEA*1*000000002~")  # still growing
    assert w.tick() == (True, [])  # the drop folder settled; the EDI folder changed again
    assert w.tick() == (False, ["edi"])


def test_a_symlink_or_subfolder_does_not_count(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    settings = Settings(data_dir=tmp_path / "data", drop_dir=drop)
    w = Watcher.for_settings(settings)
    (drop / "_ports").mkdir()
    os.symlink(tmp_path, drop / "link.csv")
    assert w.tick() == (False, []) and w.tick() == (False, [])


def test_the_watch_job_is_scheduled_unless_switched_off(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    jobs = {j.id: j for j in build_scheduler(Settings(data_dir=tmp_path, drop_dir=drop)).get_jobs()}
    assert jobs["watch"].trigger.interval.total_seconds() == 15
    assert (jobs["watch"].max_instances, jobs["watch"].coalesce) == (1, True)
    off = build_scheduler(Settings(data_dir=tmp_path, drop_dir=drop, watch_seconds=0)).get_jobs()
    assert "watch" not in {j.id for j in off}


def test_superseded_versions_are_pruned_between_runs(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    jobs = {j.id: j for j in build_scheduler(Settings(data_dir=tmp_path, drop_dir=drop)).get_jobs()}
    assert jobs["prune"].func is prune_versions
    assert jobs["prune"].trigger.interval.total_seconds() == 120  # the web app's reader's retire window
