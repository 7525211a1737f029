"""One typed settings object, read from ``MEDTOWER_*`` environment variables.

Built once by the CLI or the app factory and passed down; no module reads the
environment at import time.
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDTOWER_", extra="ignore")

    # Where the published warehouse, the build area and logs live.
    data_dir: Path = Path("data")
    # The dbt project and the profile target it builds with (duckdb, postgres, spark).
    dbt_project_dir: Path = REPO_ROOT / "dbt_project"
    dbt_target: str = "duckdb"
    # The PostgreSQL warehouse (dbt_target "postgres"): the same variables dbt's profile reads.
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "medtower"
    pg_password: SecretStr | None = None
    pg_database: str = "medtower"
    # Timezone used for an offset-bearing timestamp whose row cannot be tied to a site.
    default_timezone: str = "UTC"

    # Web app.
    host: str = "127.0.0.1"
    port: int = 8050
    app_base_url: str = "http://127.0.0.1:8050"
    # Bearer token of POST /capture (EPCIS 2.0 capture, into <data_dir>/epcis-inbox); unset: capture is off.
    capture_token: SecretStr | None = None
    # Sign-in (dashboards/auth.py, medtower/users.py): the users store is <data_dir>/users.sqlite.
    session_hours: float = 8.0  # a session ends this long after sign-in, used or not
    idle_minutes: float = 30.0  # ... or after this long without a request
    lockout_attempts: int = 5  # failed sign-ins in a row that lock an account
    lockout_minutes: float = 15.0
    password_min_length: int = 12
    # Single sign-on through a trusted reverse proxy: the header carrying the signed-in user's name (e.g.
    # X-Remote-User). Off (None) by default; only turn on behind a proxy that sets it and strips it from
    # clients, with the app listening on 127.0.0.1 only. The name must be an active user of the store.
    sso_header: str | None = None
    # TLS in front of the app (the proxy terminates it): cookies get the Secure flag.
    tls: bool = False
    # Signs the session cookie; unset: a random key kept in <data_dir>/secret-key (mode 0600).
    secret_key: SecretStr | None = None
    max_request_bytes: int = 40 * 1024 * 1024  # over this: 413 (an EPCIS capture may be 32 MiB)
    server_threads: int = 8  # waitress worker threads of `medtower serve`

    # Mail (alerts, weekly KPI review).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "medtower@localhost"
    planner_emails: Annotated[list[str], NoDecode] = Field(default_factory=list)
    qa_emails: Annotated[list[str], NoDecode] = Field(default_factory=list)
    management_emails: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Pipeline scheduling.
    drop_dir: Path | None = None
    # sources.yaml: the source connectors (ERP database, REST, EDI, EPCIS, ...) each on its own interval.
    sources: Path | None = None
    schedule_every_minutes: int = 60
    # `medtower schedule` also looks every this many seconds for files landing in the drop folder and in
    # the folders of EDI / EPCIS / snapshot sources (EPCIS capture writes there) and runs at once; 0: off.
    watch_seconds: int = Field(default=15, ge=0)
    # Weekly KPI review email to management_emails (cron fields, in default_timezone).
    kpi_review_day_of_week: str = "mon"
    kpi_review_hour: int = 7
    kpi_review_minute: int = 0

    # Alerts: rule folder (default alerts/rules/) and bounded SMTP retries per evaluation.
    alert_rules_dir: Path | None = None
    alert_smtp_retries: int = 3
    alert_smtp_backoff_seconds: float = 1.0

    # DuckDB on every writer connection and in dbt's profile: a share of RAM ("60%") or a size ("4GB"),
    # worker threads, and where a query spills what does not fit (default <data_dir>/tmp), so a big
    # build spills to disk instead of dying. A run needs the warehouse size x 1.2 free, at least this.
    # Default: 60 % of RAM, at most 3 GiB (``default_memory_limit``), so a scale-100 run stays near 4 GB.
    duckdb_memory_limit: str = Field(default_factory=lambda: default_memory_limit())
    duckdb_threads: int = Field(default_factory=lambda: len(os.sched_getaffinity(0)), ge=1)
    duckdb_temp_directory: Path | None = None
    min_free_disk_mb: int = Field(default=512, ge=0)
    # The web app keeps query results of the published warehouse in memory, up to this many MiB, so a
    # filter change that leaves a page's queries alone (a period change on a drill-down) runs none of them
    # again; a publish is a new file, so nothing kept is ever stale. 0: keep nothing.
    query_cache_mb: int = Field(default=256, ge=0)
    # Ingest reads a CSV file larger than this in batches of about this many bytes (cut at record
    # boundaries), so its memory is bounded by the batch, not the file; the file still commits as a whole.
    ingest_batch_bytes: int = Field(default=64 << 20, ge=1)

    # The audit trail (medtower.audit): an SQLite file outside the warehouse; default
    # <data_dir>/audit/audit-trail.sqlite. Put it on other storage than the warehouse to survive its loss.
    audit_path: Path | None = None

    log_level: str = "INFO"

    @field_validator("planner_emails", "qa_emails", "management_emails", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        # Accept "a@x, b@y" as well as a JSON list, so a plain env var works.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"not a log level; allowed: {', '.join(LOG_LEVELS)}")
        return value

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_limit(cls, value: str) -> str:
        match = MEMORY_LIMIT.fullmatch(value.strip())
        number = float(match["number"]) if match else 0.0
        if number <= 0 or (match is not None and match["unit"] == "%" and number > 100):
            raise ValueError(
                "allowed: a share of RAM up to 100% (e.g. 60%) or a size in KB, MB, GB, TB, "
                "KiB, MiB, GiB or TiB (e.g. 4GB)"
            )
        return value.strip()

    @field_validator("port", "smtp_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError("a TCP port is a whole number from 1 to 65535")
        return value

    @property
    def on_postgres(self) -> bool:
        """The warehouse is a PostgreSQL server (MEDTOWER_DBT_TARGET=postgres): marts, meta, alert state."""
        return self.dbt_target == "postgres"

    @property
    def warehouse_path(self) -> Path:
        """The published warehouse every reader opens read-only."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def build_dir(self) -> Path:
        """Where a writer prepares the next warehouse before publishing it."""
        return self.data_dir / "build"

    @property
    def duckdb_temp_dir(self) -> Path:
        """Where writers and dbt spill (``MEDTOWER_DUCKDB_TEMP_DIRECTORY``, default <data_dir>/tmp)."""
        return self.duckdb_temp_directory or self.data_dir / "tmp"


def get_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


# The most DuckDB takes by default, whatever the RAM: past it a query spills to the temp directory.
MEMORY_CAP_MIB = 3 * 1024


def default_memory_limit() -> str:
    """60 % of this machine's RAM, at most ``MEMORY_CAP_MIB``, as DuckDB reads a size (e.g. ``3072MiB``)."""
    try:
        ram_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):  # no sysconf figure for RAM here: DuckDB's share of whatever there is
        return "60%"
    return f"{max(1, min(int(ram_mib * 0.6), MEMORY_CAP_MIB))}MiB"


MEMORY_LIMIT = re.compile(r"(?P<number>\d+(\.\d+)?) ?(?P<unit>%|[KMGT]i?B)", re.IGNORECASE)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A ``MEDTOWER_*`` value that cannot be used: the message names the variable and what is allowed."""


def _allowed(annotation: Any) -> str:
    """What a value of this field's type looks like, in words."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _allowed(args[0])
    if origin in (typing.Union, types.UnionType) and args:
        return _allowed(args[0]) + " (or unset)"
    if origin is list:
        return "addresses separated by commas (a@x.example, b@y.example) or a JSON list"
    return {
        int: "a whole number",
        float: "a number",
        bool: "true or false (also 1/0, yes/no, on/off)",
        Path: "a folder or file path",
        str: "text",
    }.get(annotation, str(annotation))


def describe_errors(exc: ValidationError) -> str:
    """One line per bad value: the variable, the value given, why and what is allowed."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error.get("loc") else "?"
        field = Settings.model_fields.get(name)
        given = error.get("input")
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        allowed = _allowed(field.annotation) if field is not None else "see medtower/settings.py"
        own_words = "allowed" in reason or "from 1 to" in reason
        tail = "" if own_words else f"; allowed: {allowed}"
        lines.append(f"MEDTOWER_{name.upper()}={given!r} is not valid: {reason}{tail}")
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment; a bad value is a ``SettingsError`` naming its variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc)) from exc
