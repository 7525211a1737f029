"""The work database changes in place under the writer lock; readers see only complete published versions
that hold the schemas they read (marts, meta, alerts) and nothing else."""

import datetime as dt
import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
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
    current_version,
    prune_versions,
    work_database,
    work_path,
    writer_lock,
)


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def _value(settings: Settings) -> int:
    with connect_readonly(settings) as con:
        return con.execute("select v from marts.t").fetchone()[0]


def _publish_value(settings: Settings, value: int) -> None:
    with work_database(settings) as work:
        with duckdb.connect(str(work.path)) as con:
            con.execute("create schema if not exists marts")
            con.execute(f"create or replace table marts.t as select {value} as v")
        work.publish()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_warehouse_tells_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(WarehouseMissingError, match="medtower run"):
        connect_readonly(_settings(tmp_path))


def test_a_publish_holds_what_readers_read_and_the_work_file_stays_in_place(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with work_database(settings) as work, duckdb.connect(str(work.path)) as con:
        for schema in ("raw", "staging", "marts", "meta", "alerts", "writer"):
            con.execute(f"create schema {schema}")
        con.execute("create table raw.lots as select * from (values ('L1', 5), ('L2', 7)) v(lot_id, qty)")
        con.execute("create view staging.stg_lots as select lot_id, qty * 2 as qty2 from raw.lots")
        con.execute("create table marts.dim_lots as select * from staging.stg_lots")
        con.execute("create view marts.v_total as select sum(qty2) as total from staging.stg_lots")
        con.execute("create table meta.ingest_runs as select 'r1' as run_id")
        con.execute("create table alerts.alert_instances as select 'k1' as alert_key")
        con.execute("create table writer.state as select 1 as id")
    inode = work_path(settings).stat().st_ino
    with work_database(settings) as work:
        published = work.publish()
    assert published["tables"] == 4  # dim_lots, v_total, ingest_runs, alert_instances
    with connect_readonly(settings) as con:
        relations = con.execute(
            "select table_schema, table_name, table_type from information_schema.tables order by 1, 2"
        ).fetchall()
        assert relations == [
            ("alerts", "alert_instances", "BASE TABLE"),
            ("marts", "dim_lots", "BASE TABLE"),
            ("marts", "v_total", "BASE TABLE"),  # a view over staging, published as its rows
            ("meta", "ingest_runs", "BASE TABLE"),
        ]
        assert con.execute("select * from marts.dim_lots order by 1").fetchall() == [("L1", 10), ("L2", 14)]
        assert con.execute("select total from marts.v_total").fetchall() == [(24,)]
    assert current_version(settings).name == published["version"]
    assert current_version(settings).stat().st_size == published["bytes"]
    # The work database is the same file, changed in place, and no copy of it is anywhere.
    with work_database(settings) as work, duckdb.connect(str(work.path)) as con:
        con.execute("insert into raw.lots values ('L3', 1)")
    assert work_path(settings).stat().st_ino == inode
    assert list(settings.build_dir.iterdir()) == []


def test_a_failed_block_changes_the_work_database_and_never_what_readers_see(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _publish_value(settings, 1)
    published, digest = current_version(settings), _sha(current_version(settings))
    with pytest.raises(RuntimeError, match="boom"), work_database(settings) as work:
        with duckdb.connect(str(work.path)) as con:
            con.execute("update marts.t set v = 2")
        raise RuntimeError("boom")
    assert _value(settings) == 1
    assert current_version(settings) == published and _sha(published) == digest
    with duckdb.connect(str(work_path(settings)), read_only=True) as con:
        assert con.execute("select v from marts.t").fetchone() == (2,)  # kept for the next run
    assert list(settings.build_dir.iterdir()) == []


def test_a_failing_publish_leaves_the_published_version_and_no_half_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _publish_value(settings, 1)
    published, digest = current_version(settings), _sha(current_version(settings))
    with work_database(settings) as work:
        with duckdb.connect(str(work.path)) as con:  # a view that fails when read, after marts.t is copied
            con.execute("create table marts.u as select 'not a number' as s")
            con.execute("create view marts.v as select cast(s as integer) as n from marts.u")
        with pytest.raises(duckdb.Error):
            work.publish()
    assert current_version(settings) == published and _sha(published) == digest
    assert sorted(p.name for p in settings.data_dir.glob("warehouse-*")) == [published.name]
    assert list(settings.build_dir.iterdir()) == []


def test_a_publish_without_a_build_copies_the_marts_of_the_last_version(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _publish_value(settings, 1)
    last = current_version(settings)
    with work_database(settings) as work:
        with duckdb.connect(str(work.path)) as con:
            con.execute("create schema alerts; create table alerts.state as select 'open' as s")
            con.execute("update marts.t set v = 7")  # not published: the caller says the marts are as before
        published = work.publish(marts_unchanged=True)
    assert published["marts_of"] == last.name and published["tables"] == 1  # alerts.state only
    assert _value(settings) == 1  # the marts as a file copy of the last version
    with connect_readonly(settings) as con:
        assert con.execute("select s from alerts.state").fetchall() == [("open",)]
    with work_database(settings) as work:
        assert work.publish()["marts_of"] is None
    assert _value(settings) == 7


def test_reader_keeps_its_snapshot_across_a_publish(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _publish_value(settings, 1)
    reader = connect_readonly(settings)
    try:
        _publish_value(settings, 2)
        # The open reader still reads its own file; a new reader sees the new one.
        assert reader.execute("select v from marts.t").fetchone()[0] == 1
        assert _value(settings) == 2
    finally:
        reader.close()


def test_readers_keep_reading_a_complete_version_while_a_writer_publishes(tmp_path: Path) -> None:
    from dashboards.warehouse_reader import WarehouseReader

    settings = _settings(tmp_path)
    _publish_value(settings, 0)
    reader = WarehouseReader(settings.warehouse_path)  # the web app's reader
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            try:
                with reader.connect() as con:
                    seen.append(con.execute("select min(v), max(v) from marts.t").fetchone())
            except BaseException as exc:  # any failure of a reader is the finding
                errors.append(exc)
                return

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for value in range(1, 6):  # each version holds 1000 rows of one value
            with work_database(settings) as work:
                with duckdb.connect(str(work.path)) as con:
                    con.execute(f"create or replace table marts.t as select {value} as v from range(1000)")
                work.publish()
    finally:
        done.set()
        thread.join(timeout=30)
    assert errors == []
    assert seen and all(low == high for low, high in seen)  # never half of one version, half of another
    assert [v for v, _ in seen] == sorted(v for v, _ in seen)  # never back to an older version
    assert len({v for v, _ in seen}) > 1  # it did read across publishes
    assert _value(settings) == 5


def test_the_readers_result_cache_answers_a_repeated_query_and_never_a_stale_one(tmp_path: Path) -> None:
    import pandas as pd

    from dashboards.data.base import query
    from dashboards.warehouse_reader import WarehouseReader

    settings = _settings(tmp_path)
    _publish_value(settings, 7)
    reader = WarehouseReader(settings.warehouse_path, cache_bytes=1 << 20)
    sql = "select v, ? as asked from marts.t"
    with reader.connect() as con:
        first = query(con, sql, ["a"])
        first.loc[0, "v"] = -1  # a caller changing what it was given changes nothing kept
    assert (reader.results.hits, reader.results.misses) == (0, 1)
    with reader.connect() as con:
        again = query(con, sql, ["a"])
        other = query(con, sql, ["b"])  # other parameters: another result
    assert again.to_dict("records") == [{"v": 7, "asked": "a"}]
    assert other.to_dict("records") == [{"v": 7, "asked": "b"}]
    assert (reader.results.hits, reader.results.misses) == (1, 2)

    _publish_value(settings, 8)  # a publish is a new file: what was kept of the old one is not used
    with reader.connect() as con:
        assert query(con, sql, ["a"]).to_dict("records") == [{"v": 8, "asked": "a"}]
    assert reader.results.hits == 1

    # Long arrays that differ in one element are two queries, though numpy prints both as "[0 1 2 ... ]".
    import numpy as np

    from dashboards.warehouse_reader import cached_result

    ids, other_ids = np.arange(3000), np.arange(3000)
    other_ids[1500] = -1
    with reader.connect() as con:
        for given in (ids, other_ids):
            got = cached_result(con, "select ?", [given], lambda g=given: pd.DataFrame({"n": [int(g[1500])]}))
            assert got["n"].iloc[0] == given[1500]
    assert reader.results.misses == 3 + 2

    # A connection the reader did not hand out is never answered from the cache.
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        query(con, sql, ["a"])
        query(con, sql, ["a"])
    assert (reader.results.hits, reader.results.misses) == (1, 5)


def test_the_result_cache_stays_within_its_bytes_and_zero_keeps_nothing(tmp_path: Path) -> None:
    import pandas as pd

    from dashboards.warehouse_reader import ResultCache

    frame = pd.DataFrame({"v": range(1000)})  # 8,000 bytes of values and a 132-byte range index
    size = int(frame.memory_usage(index=True, deep=True).sum())
    cache = ResultCache(5 * size)
    for i in range(12):
        cache.put(("f", "sql", str(i)), frame)
    assert len(cache) == 5  # the five used last
    assert cache.get(("f", "sql", "6")) is None and cache.get(("f", "sql", "11")) is not None
    cache.put(("f", "big", ""), pd.DataFrame({"v": range(2000)}))  # over a quarter of it: not kept
    assert cache.get(("f", "big", "")) is None and len(cache) == 5

    settings = _settings(tmp_path)
    _publish_value(settings, 1)
    from dashboards.data.base import query
    from dashboards.warehouse_reader import WarehouseReader

    off = WarehouseReader(settings.warehouse_path, cache_bytes=0)  # MEDTOWER_QUERY_CACHE_MB=0
    for _ in range(2):
        with off.connect() as con:
            assert query(con, "select v from marts.t").to_dict("records") == [{"v": 1}]
    assert len(off.results) == 0 and off.results.hits == 0


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with writer_lock(settings), pytest.raises(WarehouseBusyError), work_database(settings):
        pass


def test_superseded_versions_go_once_past_the_retire_window(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    data = settings.data_dir
    data.mkdir()
    # Published at 10:00:00, 10:01:00, 10:05:00 and 10:06:00; the link on the newest.
    names = [f"warehouse-20260101T{t}00000000.duckdb" for t in ("1000", "1001", "1005", "1006")]
    for name in [*names, "warehouse-legacy-20260101T100000000000.duckdb", "warehouse-notes.duckdb"]:
        (data / name).write_bytes(b"x")
    (data / "warehouse.duckdb").symlink_to(names[-1])
    at = dt.datetime(2026, 1, 1, 10, 7, 30, tzinfo=dt.UTC)
    removed = prune_versions(settings, now=at)
    # Superseded at 10:00 (the legacy file), 10:01 (10:00's) and 10:05 (10:01's, 150 s ago): deleted.
    # 10:05's was superseded at 10:06, 90 s ago, within the 120 s a reader may still be on it: kept, as is
    # a file of another name.
    assert sorted(p.name for p in removed) == sorted(
        [names[0], names[1], "warehouse-legacy-20260101T100000000000.duckdb"]
    )
    assert sorted(p.name for p in data.iterdir()) == sorted(
        [names[2], names[3], "warehouse-notes.duckdb", "warehouse.duckdb"]
    )
    assert prune_versions(settings, now=at + dt.timedelta(seconds=31)) == [data / names[2]]
    assert prune_versions(settings, now=at + dt.timedelta(days=9)) == []  # the newest always stays


def test_a_data_dir_of_the_older_layout_is_migrated_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    settings.data_dir.mkdir()
    with duckdb.connect(str(settings.warehouse_path)) as con:  # the whole warehouse, published as is
        con.execute("create schema raw; create schema marts")
        con.execute("create table raw.lots as select 'L1' as lot_id")
        con.execute("create table marts.t as select 1 as v")
    with caplog.at_level(logging.WARNING), work_database(settings) as work:
        assert work.seeded_from == settings.warehouse_path.resolve()
        with duckdb.connect(str(work.path)) as con:
            assert con.execute("select lot_id from raw.lots").fetchall() == [("L1",)]
            con.execute("update marts.t set v = 2")
        work.publish()
    assert "migrated the data dir to the work-database layout: seeded" in caplog.text
    with connect_readonly(settings) as con:
        schemas = {r[0] for r in con.execute("select table_schema from information_schema.tables").fetchall()}
    assert schemas == {"marts"} and _value(settings) == 2
    legacy = list(settings.data_dir.glob("warehouse-legacy-*.duckdb"))
    assert len(legacy) == 1  # the old plain file, kept until it retires
    with work_database(settings) as work:
        assert work.seeded_from is None


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
    ram_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    assert settings.duckdb_memory_limit == f"{min(int(ram_mib * 0.6), 3072)}MiB"  # 60 % of RAM, <= 3 GiB
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
    _publish_value(settings, 1)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    half_version = settings.build_dir / "warehouse-20260101T000000000000.duckdb"
    half_version.write_bytes(b"half a version")
    (settings.build_dir / "warehouse-20260101T000000000000.duckdb.wal").write_bytes(b"wal")
    old_layout = settings.build_dir / "run-0123456789ab"  # a staged copy of the older layout
    old_layout.mkdir()
    (old_layout / "warehouse.duckdb").write_bytes(b"half a copy")
    half_link = settings.data_dir / ".warehouse.duckdb.20260101T000000000000.tmp"
    half_link.symlink_to("warehouse-20260101T000000000000.duckdb")
    half_seed = work_path(settings).with_name(".warehouse.duckdb.seed.tmp")
    half_seed.write_bytes(b"half a seed")
    temp = settings.duckdb_temp_dir
    temp.mkdir(exist_ok=True)
    dead_spill = temp / f"duckdb_temp_{dead_pid}_0_storage_S32K-0.tmp"
    live_spill = temp / f"duckdb_temp_{os.getpid()}_0_storage_S32K-0.tmp"
    other = temp / "notes.txt"
    for path in (dead_spill, live_spill, other):
        path.write_text("x")
    inode = work_path(settings).stat().st_ino
    told: list[list[Path]] = []
    with work_database(settings, told.append):
        pass
    wal = settings.build_dir / "warehouse-20260101T000000000000.duckdb.wal"
    assert told == [sorted([half_version, wal, old_layout, half_link, half_seed, dead_spill])]
    assert live_spill.exists() and other.exists()  # a live process's spill and files not DuckDB's stay
    assert not half_link.is_symlink() and list(settings.build_dir.iterdir()) == []
    assert work_path(settings).stat().st_ino == inode  # the work database is never removed
    assert _value(settings) == 1


def test_too_little_disk_fails_before_any_work(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _publish_value(settings, 1)
    published = settings.warehouse_path.resolve()
    greedy = settings.model_copy(update={"min_free_disk_mb": 10**9})
    needs = r"needs 1,000,000,000 MB free in .*build, has [\d,]+ MB \(a run writes the next published version"
    with pytest.raises(DiskSpaceError, match=needs), work_database(greedy):
        raise AssertionError("the block must not run")
    assert list(settings.build_dir.iterdir()) == []
    assert settings.warehouse_path.resolve() == published
    with work_database(settings.model_copy(update={"min_free_disk_mb": 0})):  # 1.2 x a version fits
        pass
