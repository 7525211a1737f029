"""The published warehouse only ever changes by an atomic, complete publish."""

from pathlib import Path

import duckdb
import pytest

from medtower.settings import Settings
from medtower.warehouse import (
    WarehouseBusyError,
    WarehouseMissingError,
    connect_readonly,
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
