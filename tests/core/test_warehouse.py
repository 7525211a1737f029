"""The published warehouse only ever changes by an atomic, complete publish."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from medtower.settings import Settings, SettingsError, load_settings
from medtower.warehouse import (
    DiskSpaceError,
    WarehouseBusyError,
    WarehouseMissingError,
    connect_readonly,
    connect_writer,
    staged,
    writer_lock,
)


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def _value(settings: Settings) -> int:
    with connect_readonly(settings) as con:
        return con.execute("select v from t").fetchone()[0]


def test_missing_warehouse_tells_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(WarehouseMissingError, match="medtower run"):
        connect_readonly(_settings(tmp_path))


def test_successful_block_publishes(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with staged(settings) as path, duckdb.connect(str(path)) as con:
        con.execute("create table t as select 1 as v")
    assert _value(settings) == 1
    assert list(settings.build_dir.iterdir()) == []


def test_failed_block_keeps_last_good_warehouse(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with staged(settings) as path, duckdb.connect(str(path)) as con:
        con.execute("create table t as select 1 as v")
    with pytest.raises(RuntimeError, match="boom"), staged(settings) as path:
        with duckdb.connect(str(path)) as con:
            con.execute("update t set v = 2")
        raise RuntimeError("boom")
    assert _value(settings) == 1
    assert list(settings.build_dir.iterdir()) == []


def test_reader_keeps_its_snapshot_across_a_publish(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with staged(settings) as path, duckdb.connect(str(path)) as con:
        con.execute("create table t as select 1 as v")
    reader = connect_readonly(settings)
    try:
        with staged(settings) as path, duckdb.connect(str(path)) as con:
            con.execute("update t set v = 2")
        # The open reader still reads its own file; a new reader sees the new one.
        assert reader.execute("select v from t").fetchone()[0] == 1
        assert _value(settings) == 2
    finally:
        reader.close()


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with writer_lock(settings), pytest.raises(WarehouseBusyError), staged(settings):
        pass


def test_old_versions_are_pruned_but_the_previous_is_kept(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    for value in range(4):
        with staged(settings) as path, duckdb.connect(str(path)) as con:
            con.execute(f"create or replace table t as select {value} as v")
    versions = sorted(p.name for p in settings.data_dir.glob("warehouse-*.duckdb"))
    assert len(versions) == 2
    assert settings.warehouse_path.is_symlink()
    assert settings.warehouse_path.resolve().name == versions[-1]
    assert _value(settings) == 3


def test_writer_connections_get_the_duckdb_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", duckdb_memory_limit="512MiB", duckdb_threads=1)
    with connect_writer(settings, tmp_path / "w.duckdb") as con:
        got = con.execute(
            "select current_setting('memory_limit'), current_setting('threads'),"
            " current_setting('temp_directory')"
        ).fetchone()
    assert got == ("512.0 MiB", 1, str((tmp_path / "data" / "tmp").resolve()))
    assert (tmp_path / "data" / "tmp").is_dir()


def test_duckdb_defaults_spill_into_the_data_dir_with_every_core(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.duckdb_memory_limit == "60%"
    assert settings.duckdb_threads == len(os.sched_getaffinity(0))
    assert settings.duckdb_temp_dir == tmp_path / "tmp"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "duckdb_memory_limit",
            "lots",
            "MEDTOWER_DUCKDB_MEMORY_LIMIT='lots' is not valid: allowed: a share of RAM",
        ),
        ("duckdb_memory_limit", "150%", "MEDTOWER_DUCKDB_MEMORY_LIMIT='150%' is not valid: allowed: a share"),
        ("duckdb_memory_limit", "0GB", "or a size in KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 4GB)"),
        (
            "duckdb_threads",
            0,
            "MEDTOWER_DUCKDB_THREADS=0 is not valid: Input should be greater than or equal to 1; allowed",
        ),
        (
            "min_free_disk_mb",
            -1,
            "MEDTOWER_MIN_FREE_DISK_MB=-1 is not valid: Input should be greater than or equal to 0",
        ),
    ],
)
def test_bad_duckdb_settings_name_the_variable(field: str, value: object, expected: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(**{field: value})
    assert expected in str(err.value)


def test_a_memory_limit_duckdb_takes_is_accepted(tmp_path: Path) -> None:
    for value in ("60%", "4GB", "1.5 GiB", "512mb"):
        settings = load_settings(data_dir=tmp_path, duckdb_memory_limit=value)
        connect_writer(settings, tmp_path / "w.duckdb").close()  # DuckDB accepts it as well


def test_the_next_writer_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with staged(settings) as path, duckdb.connect(str(path)) as con:
        con.execute("create table t as select 1 as v")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    run_dir = settings.build_dir / "run-0123456789ab"
    run_dir.mkdir()
    (run_dir / "warehouse.duckdb").write_bytes(b"half a copy")
    (run_dir / "warehouse.duckdb.wal").write_bytes(b"wal")
    (settings.build_dir / "current").symlink_to(run_dir.name)
    half_link = settings.data_dir / ".warehouse.duckdb.20260101T000000000000.tmp"
    half_link.symlink_to("warehouse-20260101T000000000000.duckdb")
    temp = settings.duckdb_temp_dir
    temp.mkdir(exist_ok=True)
    dead_spill = temp / f"duckdb_temp_{dead_pid}_0_storage_S32K-0.tmp"
    live_spill = temp / f"duckdb_temp_{os.getpid()}_0_storage_S32K-0.tmp"
    other = temp / "notes.txt"
    for path in (dead_spill, live_spill, other):
        path.write_text("x")
    told: list[list[Path]] = []
    with staged(settings, told.append) as path:
        assert path.parent != run_dir and not run_dir.exists()
    assert told == [sorted([run_dir, settings.build_dir / "current", half_link, dead_spill])]
    assert live_spill.exists() and other.exists()  # a live process's spill and files not DuckDB's stay
    assert not half_link.is_symlink() and list(settings.build_dir.iterdir()) == []
    assert _value(settings) == 1


def test_too_little_disk_fails_before_the_copy(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with staged(settings) as path, duckdb.connect(str(path)) as con:
        con.execute("create table t as select 1 as v")
    published = settings.warehouse_path.resolve()
    greedy = settings.model_copy(update={"min_free_disk_mb": 10**9})
    needs = r"needs 1,000,000,000 MB free in .*build, has [\d,]+ MB"
    with pytest.raises(DiskSpaceError, match=needs), staged(greedy):
        raise AssertionError("the block must not run")
    assert list(settings.build_dir.iterdir()) == []
    assert settings.warehouse_path.resolve() == published
    with staged(settings.model_copy(update={"min_free_disk_mb": 0})):  # a copy of size x 1.2 fits here
        pass
