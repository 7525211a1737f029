"""An alert evaluation writes in many statements; if it fails or is killed, the alert state it started from
is put back whole, its tables' keys included (medtower.pipeline)."""

from pathlib import Path

import duckdb
import pytest

from medtower.pipeline import ALERTS_KEPT, _keep_alert_state, restore_alert_state
from medtower.settings import Settings


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_alert_state_of_before_an_unfinished_evaluation_is_put_back(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    db = tmp_path / "work.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema alerts")
        con.execute("create table alerts.notifications (key varchar primary key, status varchar)")
        con.execute("insert into alerts.notifications values ('a', 'sent'), ('b', 'pending')")
    _keep_alert_state(settings, db)
    with duckdb.connect(str(db)) as con:  # what an evaluation does before it is cut short
        con.execute("insert or replace into alerts.notifications values ('b', 'sent'), ('c', 'pending')")
        con.execute("alter table alerts.notifications add column tries integer")
        con.execute("create table alerts.evaluations as select 'r1' as rule_id")
    assert restore_alert_state(settings, db) is True
    assert _rows(db, "select key, status, tries from alerts.notifications order by 1") == [
        ("a", "sent", None),
        ("b", "pending", None),
    ]
    assert _rows(db, "select table_name from information_schema.tables where table_schema = 'alerts'") == [
        ("notifications",)
    ]
    assert _rows(db, f"select * from information_schema.schemata where schema_name = '{ALERTS_KEPT}'") == []
    with duckdb.connect(str(db)) as con, pytest.raises(duckdb.ConstraintException):
        con.execute("insert into alerts.notifications values ('a', 'again', null)")  # the key holds
    assert restore_alert_state(settings, db) is False  # nothing kept aside any more


def test_no_alert_state_before_means_none_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    db = tmp_path / "work.duckdb"
    duckdb.connect(str(db)).close()
    _keep_alert_state(settings, db)
    with duckdb.connect(str(db)) as con:
        con.execute("create schema alerts; create table alerts.alert_instances as select 'k' as alert_key")
    assert restore_alert_state(settings, db) is True
    assert (
        _rows(db, "select schema_name from information_schema.schemata where schema_name like 'alerts%'")
        == []
    )
