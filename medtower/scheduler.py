"""`medtower schedule`: the pipeline every N minutes and the weekly KPI review email.

One APScheduler BlockingScheduler in the foreground. The pipeline job runs ingest, build and alerts
(``medtower.pipeline.run_once`` on ``settings.drop_dir``) one run at a time: ``max_instances=1`` so a slow
run is never overlapped, ``coalesce=True`` so runs missed while one was busy collapse into one, and a
``misfire_grace_time`` so a run that is a little late still happens. A failing run is logged (and recorded
in the pipeline run log by ``run_once``) and the scheduler carries on.

The weekly review is queued in the alerts' durable outbox (``alerts.outbox``), once per week ending: an
SMTP outage leaves it pending, and the next pipeline run (or review job) sends it. Superseded published
warehouse versions are deleted every ``RETIRE_AFTER_SECONDS`` once past the readers' retire window.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alerts import outbox
from alerts.channels import SmtpChannel
from alerts.message import OutgoingMessage
from medtower import kpis, review
from medtower.pipeline import configured_sources, run_once
from medtower.settings import Settings
from medtower.warehouse import RETIRE_AFTER_SECONDS, connect_readonly, prune_versions

log = logging.getLogger(__name__)


def pipeline_job(settings: Settings, sources: list[str] | None = None) -> dict[str, Any] | None:
    """One scheduled run; never raises, so one bad run does not stop the schedule.

    ``sources``: a source's own job pulls only that source (and builds); the drop-folder job pulls none.
    """
    started = dt.datetime.now(dt.UTC)
    try:
        if sources is None:
            record = run_once(settings.model_copy(update={"sources": None}), settings.drop_dir)
        else:
            record = run_once(settings, None, sources=sources)
    except Exception:
        log.exception("scheduled pipeline run failed; the next run is still scheduled")
        return None
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    steps = ", ".join(f"{s['step']} {s['outcome']}" for s in record.get("steps", []))
    level = logging.INFO if record["outcome"] == "succeeded" else logging.ERROR
    log.log(
        level,
        "scheduled run %s %s in %.1fs (%s)%s",
        record["run_id"],
        record["outcome"],
        seconds,
        steps,
        f": {record['error']}" if record.get("error") else "",
    )
    return record


# Folder kinds of source: a file landing in their folder triggers a pull.
FOLDER_KINDS = ("x12", "epcis", "snapshot")


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of the files of a folder (not its subfolders, no symlinks)."""
    if not folder.is_dir():
        return ()
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass
class Watcher:
    """Notices new data in the drop folder and in the folders of folder sources (EDI, EPCIS, snapshots).

    A change triggers a run once the folder has looked the same on two ticks in a row, so a file still
    being copied is not read half-written. What was last run on is remembered, so a tick with nothing new
    triggers nothing.
    """

    drop_dir: Path | None
    folders: dict[str, Path] = field(default_factory=dict)  # source name -> folder
    _ran: dict[str, tuple] = field(default_factory=dict)
    _seen: dict[str, tuple] = field(default_factory=dict)

    @classmethod
    def for_settings(cls, settings: Settings) -> Watcher:
        folders = {s.name: s.path("path") for s in configured_sources(settings) if s.kind in FOLDER_KINDS}
        watcher = cls(settings.drop_dir, folders)
        watcher._ran = dict(watcher._current())  # what is there at start is what the first runs read
        watcher._seen = dict(watcher._ran)
        return watcher

    def _current(self) -> dict[str, tuple]:
        now = {name: _fingerprint(folder) for name, folder in self.folders.items()}
        if self.drop_dir is not None:
            now[""] = _fingerprint(self.drop_dir)
        return now

    def tick(self) -> tuple[bool, list[str]]:
        """(drop folder changed, sources whose folders changed), each settled since the last tick."""
        now = self._current()
        ready = [k for k, fp in now.items() if fp == self._seen.get(k) and fp != self._ran.get(k)]
        self._seen = now
        for k in ready:
            self._ran[k] = now[k]
        return "" in ready, sorted(k for k in ready if k)


def watch_job(settings: Settings, watcher: Watcher) -> dict[str, Any] | None:
    """A micro-batch: ingest / pull only what landed, then build and alerts; nothing when nothing landed."""
    drop_changed, sources = watcher.tick()
    if not drop_changed and not sources:
        return None
    log.info(
        "new data: %s; running the pipeline now",
        ", ".join((["drop folder"] if drop_changed else []) + [f"source {s}" for s in sources]),
    )
    try:
        only = settings if sources else settings.model_copy(update={"sources": None})
        return run_once(only, settings.drop_dir if drop_changed else None, sources=sources or None)
    except Exception:
        log.exception("triggered pipeline run failed; the next change triggers another")
        return None


REVIEW_PERIOD_DAYS = 7


def kpi_review(con: Any, as_of: dt.date) -> tuple[review.ReviewScope, list[kpis.ReviewRow]]:
    """This week (7 days to as_of) vs the week before vs the catalog target, all sites:
    ``medtower.kpis.review``, the same rows the KPI review page and pack show for that date and period."""
    return review.scope(con, as_of, REVIEW_PERIOD_DAYS), kpis.review(con, as_of, REVIEW_PERIOD_DAYS)


def review_link(settings: Settings, as_of: dt.date) -> str:
    """The KPI review page for the same week, so the link opens the numbers of the email."""
    base = settings.app_base_url.rstrip("/")
    return f"{base}/kpi-review?as_of={as_of.isoformat()}&period={REVIEW_PERIOD_DAYS}"


def kpi_review_message(
    scope: review.ReviewScope, rows: list[kpis.ReviewRow], settings: Settings
) -> OutgoingMessage:
    """The weekly review: the table of ``medtower.review`` (the page's and the report file's), as HTML
    and as plain text, with a link to the same review on the page."""
    link = review_link(settings, scope.as_of)
    week = f"week ending {scope.as_of.isoformat()}"
    text = "\n".join(
        [
            f"MedTower weekly KPI review, {week}",
            "",
            review.table_text(scope, rows),
            "",
            review.LEGEND,
            f"The same review: {link}",
        ]
    )
    page = (
        "<html><body style='font-family:sans-serif'>"
        f"<h2>Weekly KPI review, {week}</h2>"
        f"<p>{html.escape(scope.comparison)}</p>"
        f"{review.table_html(scope, rows)}"
        f"<p>{html.escape(review.LEGEND)}</p>"
        f"<p><a href='{html.escape(link)}'>Open this review in MedTower</a></p></body></html>"
    )
    return OutgoingMessage(
        to=tuple(settings.management_emails),
        subject=f"[MedTower] Weekly KPI review, {week}",
        text=text,
        html=page,
        sender=settings.mail_from,
    )


def kpi_review_job(settings: Settings, as_of: dt.date | None = None) -> bool:
    """Queue the weekly KPI review for management_emails in the outbox and send it; True once sent.

    The review goes through the same durable outbox as the alert digests: one review per week ending
    (queued twice, it is sent once), and an SMTP outage leaves it pending for the next pipeline run or
    review job instead of losing the week.
    """
    as_of = as_of or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    if not settings.management_emails:
        log.warning("weekly KPI review not sent: MEDTOWER_MANAGEMENT_EMAILS is empty")
        return False
    try:
        with connect_readonly(settings) as con:
            scope, rows = kpi_review(con, as_of)
        message = kpi_review_message(scope, rows, settings)
    except Exception:
        log.exception("weekly KPI review could not be computed")
        return False
    run_id = f"kpi-review-{as_of.isoformat()}"
    digest_id, status = outbox.enqueue_message(
        settings,
        kind="kpi_review",
        idempotency_key=f"week ending {as_of.isoformat()}",
        message=message,
        run_id=run_id,
    )
    if status == "pending":
        outbox.deliver_pending(
            settings,
            SmtpChannel(settings),
            run_id=run_id,
            retries=settings.alert_smtp_retries,
            backoff_seconds=settings.alert_smtp_backoff_seconds,
        )
    status = outbox.digest_status(settings, digest_id) or "missing"
    if status == "sent":
        log.info("weekly KPI review for week ending %s sent to %s", as_of, ", ".join(message.to))
        return True
    log.error(
        "weekly KPI review for week ending %s is %s (outbox digest %s); %s",
        as_of,
        status,
        digest_id,
        "the next pipeline run retries it" if status == "pending" else "it is not resent by itself",
    )
    return False


def build_scheduler(settings: Settings, every_minutes: int | None = None) -> BlockingScheduler:
    every = every_minutes or settings.schedule_every_minutes
    if every < 1:
        raise ValueError("--every must be at least 1 minute")
    sources = configured_sources(settings)
    if settings.drop_dir is None and not sources:
        raise ValueError(
            "set MEDTOWER_DROP_DIR to the drop folder the scheduled pipeline ingests, "
            "or MEDTOWER_SOURCES to the sources.yaml of the connectors it pulls"
        )
    # One worker: writers run one after the other (the warehouse has one writer at a time).
    scheduler = BlockingScheduler(
        timezone=settings.default_timezone, executors={"default": ThreadPoolExecutor(1)}
    )
    now = dt.datetime.now(dt.UTC)
    if settings.drop_dir is not None:
        scheduler.add_job(
            pipeline_job,
            IntervalTrigger(minutes=every),
            args=[settings],
            id="pipeline",
            name="ingest, build, alerts",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(60, every * 30),
            next_run_time=now,
        )
    if settings.watch_seconds:  # near real time: a file landing (or a capture) runs a micro-batch
        scheduler.add_job(
            watch_job,
            IntervalTrigger(seconds=settings.watch_seconds),
            args=[settings, Watcher.for_settings(settings)],
            id="watch",
            name="run when new data lands",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(30, settings.watch_seconds * 4),
        )
    # A superseded published version is deleted once past the readers' retire window, also between runs,
    # so at rest the data dir holds the work database and one version (safe without the writer lock).
    scheduler.add_job(
        prune_versions,
        IntervalTrigger(seconds=RETIRE_AFTER_SECONDS),
        args=[settings],
        id="prune",
        name="delete superseded warehouse versions",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=int(RETIRE_AFTER_SECONDS),
    )
    for source in sources:  # each source on its own interval (sources.yaml every_minutes)
        scheduler.add_job(
            pipeline_job,
            IntervalTrigger(minutes=source.every_minutes),
            args=[settings, [source.name]],
            id=f"source:{source.name}",
            name=f"pull {source.name} ({source.kind}), build, alerts",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(60, source.every_minutes * 30),
            next_run_time=now,
        )
    scheduler.add_job(
        kpi_review_job,
        CronTrigger(
            day_of_week=settings.kpi_review_day_of_week,
            hour=settings.kpi_review_hour,
            minute=settings.kpi_review_minute,
            timezone=settings.default_timezone,
        ),
        args=[settings],
        id="kpi_review",
        name="weekly KPI review email",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    return scheduler


def run_scheduler(settings: Settings, every_minutes: int | None = None) -> None:
    scheduler = build_scheduler(settings, every_minutes)
    for job in scheduler.get_jobs():
        log.info("scheduled %s (%s)", job.name, job.trigger)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")
