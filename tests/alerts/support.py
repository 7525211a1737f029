"""Alert test support: settings that mail the test's SMTP server, and a hand-built shortage warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Protocol

import duckdb
import yaml

from alerts.rules import Rule, parse_rule
from medtower.settings import Settings


class SmtpEndpoint(Protocol):
    host: str
    port: int


def alert_settings_for(data_dir: Path, smtp: SmtpEndpoint, **extra: Any) -> Settings:
    """Defaults for alert tests; ``extra`` overrides any of them (e.g. ``planner_emails=[]``)."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "mail_from": "tower@example.test",
        "planner_emails": ["planner@example.test"],
        "qa_emails": ["qa@example.test"],
        "management_emails": ["boss@example.test"],
        "app_base_url": "http://tower.example.test",
        "alert_smtp_retries": 2,
        "alert_smtp_backoff_seconds": 0.01,
    }
    return Settings(**{**values, **extra})


SHORTAGE_COLUMNS = (
    "material_id varchar, site_id varchar, wo_id varchar, need_date date, qty_outstanding double, "
    "cumulative_requirement double, available_on_hand double, po_qty_due_by_need_date double, "
    "projected_balance double, shortage_qty double, is_short boolean, as_of_date date"
)


def shortage_warehouse(path: Path, as_of: dt.date, shorts: list[tuple[str, str, float]]) -> None:
    """A hand-built warehouse the shipped material_shortage rule reads: one short work order per tuple.

    ``shorts`` is (material_id, wo_id, shortage_qty) at site S1, need date as_of + 20 days (high, not
    critical), 100 EA on hand against a cumulative requirement of 100 + shortage.
    """
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.dim_materials "
            "(material_id varchar, description varchar, uom varchar)"
        )
        con.executemany(
            "insert into marts.dim_materials values (?, ?, 'EA')",
            [(m, f"part {m}") for m in sorted({m for m, _, _ in shorts})],
        )
        con.execute(f"create or replace table marts.fct_shortages ({SHORTAGE_COLUMNS})")
        need = as_of + dt.timedelta(days=20)
        con.executemany(
            "insert into marts.fct_shortages values (?, 'S1', ?, ?, ?, ?, 100, 0, ?, ?, true, ?)",
            [(m, wo, need, qty, 100 + qty, -qty, qty, as_of) for m, wo, qty in shorts],
        )
    finally:
        con.close()


# The engine tests' own shortage rule (the shipped material_shortage rule of 2026-11, on the hand-built
# fct_shortages above), so they pin the engine, the digest and the outbox whatever the shipped rule reads.
SHORTAGE_RULE_YAML = """\
id: material_shortage
title: Material shortage
source: marts.fct_shortages
kind: sql
query: |
  select
      s.material_id,
      s.site_id,
      min(s.need_date) as need_date,
      max(s.shortage_qty) as shortage_qty,
      count(distinct s.wo_id) as work_orders_short,
      min(s.need_date) - $as_of as days_to_need,
      any_value(m.uom) as uom
  from marts.fct_shortages as s
  left join marts.dim_materials as m on m.material_id = s.material_id
  where s.is_short
  group by s.material_id, s.site_id
labels: [material_id, site_id]
condition: {column: shortage_qty, op: ">", threshold: 0}
severity: high
severity_steps:
  - {column: days_to_need, op: "<=", value: 7, severity: critical}
recipients: [planner]
grace_minutes: 0
reminder_hours: 24
plan: shortage
summary: "{material_id} short by {shortage_qty} {uom} at {site_id}
  from {need_date} ({work_orders_short} work orders)"
"""


def shortage_rule() -> Rule:
    return parse_rule(yaml.safe_load(SHORTAGE_RULE_YAML))
