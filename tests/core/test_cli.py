"""The command line as a person and a script meet it: real `medtower` processes, real pipes, a real pty.

Nothing here calls the CLI's functions in-process: each test runs ``python -m medtower`` and reads what
a user would see on stdout, stderr and the exit status.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alerts.message import OutgoingMessage
from alerts.outbox import enqueue_message
from medtower.cli import build_parser
from medtower.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "ingest" / "fixtures"
MEDTOWER = [sys.executable, "-m", "medtower"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDTOWER_")}
    return {**env, "MEDTOWER_DATA_DIR": str(data_dir), **extra}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MEDTOWER, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _options(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    """Every option and positional of a parser and of its subcommands, with the command path."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out += _options(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            out.append((path, action))
    return out


def test_every_option_of_every_command_says_what_it_does() -> None:
    options = _options(build_parser(), "medtower")
    # Every command of the README is there, with its options (at least the 12 commands' 40-odd options).
    assert len({p for p, _ in options}) >= 17 and len(options) >= 40
    silent = [f"{path} {a.option_strings or a.dest}" for path, a in options if not (a.help or "").strip()]
    assert silent == []


def test_help_runs_for_the_command_and_each_subcommand(tmp_path: Path) -> None:
    env = _env(tmp_path)
    top = _run(["--help"], env)
    assert top.returncode == 0 and top.stderr == ""
    assert "supply-chain control tower" in top.stdout and "medtower COMMAND --help" in top.stdout
    for command in ("demo", "ingest", "run", "kpis", "alerts", "serve"):
        out = _run([command, "--help"], env)
        assert out.returncode == 0, (command, out.stderr)
        assert f"usage: medtower {command}" in out.stdout
    ingest = _run(["ingest", "--help"], env).stdout
    assert "an empty folder publishes nothing" in " ".join(ingest.split())


def test_json_piped_to_head_ends_quietly(tmp_path: Path) -> None:
    """600 emails in the outbox: about 200 KB of JSON, more than a pipe holds, so `head` closes it early."""
    settings = Settings(data_dir=tmp_path)
    for i in range(600):
        message = OutgoingMessage(
            to=("boss@example.test",),
            subject=f"KPI review {i:04d} " + "x" * 200,
            text="t",
            html="<p>t</p>",
        )
        enqueue_message(settings, kind="kpi_review", idempotency_key=f"k{i}", message=message)
    producer = subprocess.Popen(
        [*MEDTOWER, "alerts", "outbox", "--json", "--limit", "1000"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert producer.stdout is not None and producer.stderr is not None
    head = subprocess.run(["head", "-1"], stdin=producer.stdout, capture_output=True, timeout=120, check=True)
    producer.stdout.close()  # only head holds the read end now: its exit closes the pipe
    stderr = producer.stderr.read().decode()
    producer.wait(timeout=120)
    assert head.stdout == b"[\n"
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert stderr == ""
    assert producer.returncode == 141  # 128 + SIGPIPE, as a shell reports `yes | head -1`


def test_a_bad_setting_names_the_variable_and_what_is_allowed(tmp_path: Path) -> None:
    out = _run(["alerts", "list"], _env(tmp_path, MEDTOWER_SMTP_PORT="twenty-five"))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("medtower: MEDTOWER_SMTP_PORT='twenty-five' is not valid: ")
    assert "allowed: a whole number" in out.stderr and "Traceback" not in out.stderr
    out = _run(["alerts", "list"], _env(tmp_path, MEDTOWER_LOG_LEVEL="chatty"))
    assert out.returncode == 2
    assert "MEDTOWER_LOG_LEVEL='chatty'" in out.stderr and "DEBUG, INFO, WARNING, ERROR" in out.stderr


def _drop(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def test_ingest_of_a_file_whose_header_matches_no_column_fails_it_loudly(tmp_path: Path) -> None:
    """sites.csv delivered semicolon-separated: its one header 'column' is no contract column of sites.

    materials.csv beside it is fine (2 rows, FG-1 and RM-1) and loads; the run exits 1 and says why.
    """
    drop = _drop(tmp_path, "drop")
    shutil.copy(FIXTURES / "valid" / "materials.csv", drop / "materials.csv")
    (drop / "sites.csv").write_text(
        "site_id;name;country;timezone\nS1;Berlin Plant;DE;Europe/Berlin\n", encoding="utf-8"
    )
    out = _run(["ingest", str(drop)], _env(tmp_path / "data"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "succeeded, but 1 file(s) FAILED and nothing of them was loaded" in out.stdout
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAILED ")]
    assert failed == [
        "FAILED sites.csv (sites): no column of the header of sites.csv (site_id;name;country;timezone) "
        "is a column of sites in the contract (expected site_id, name, country, timezone ...): is it the "
        "right file, comma-separated?"
    ]
    as_json = json.loads(_run(["ingest", str(drop), "--json"], _env(tmp_path / "data")).stdout)
    assert [(f["entity"], f["file"]) for f in as_json["failed_files"]] == [("sites", "sites.csv")]
    # Nothing of sites.csv was loaded; the one line of it (line 2) is quarantined with the reason.
    rejects = json.loads(_run(["rejects", "--json", "--entity", "sites"], _env(tmp_path / "data")).stdout)
    assert {r["file"] for r in rejects} == {"sites.csv"} and all(
        "comma-separated" in r["reason"] for r in rejects
    )


def test_ingest_of_an_empty_drop_folder_warns_and_publishes_nothing(tmp_path: Path) -> None:
    drop = _drop(tmp_path, "empty")
    (drop / "notes.txt").write_text("the files come tomorrow", encoding="utf-8")
    data = tmp_path / "data"
    out = _run(["ingest", str(drop)], _env(data))
    assert out.returncode == 0
    assert "medtower ingest: warning: drop folder" in out.stderr and "holds no entity file" in out.stderr
    assert "(ignored: notes.txt)" in out.stderr and "the published warehouse is unchanged" in out.stderr
    assert not (data / "warehouse.duckdb").exists()  # no warehouse published
    (record,) = [
        json.loads(line) for line in (data / "logs" / "pipeline-runs.jsonl").read_text().splitlines()
    ]
    assert record["outcome"] == "skipped" and record["kind"] == "ingest"


def _read_pty(fd: int, proc: subprocess.Popen[bytes], deadline: float) -> bytes:
    chunks = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks)


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stdout and stderr on a pty, as in an interactive shell; the exit code and what it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*MEDTOWER, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
    )
    os.close(follower)
    raw = _read_pty(leader, proc, time.monotonic() + 120).decode(errors="replace")
    proc.wait(timeout=60)
    os.close(leader)
    assert "\x1b[" in raw  # drawn for a terminal (colours, the spinner redrawn in place)
    return proc.returncode, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)


@pytest.mark.slow
def test_progress_shows_on_a_terminal_and_stays_out_of_a_pipe(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", TERM="xterm", COLUMNS="120")
    code, seen = _on_a_terminal(["ingest", str(FIXTURES / "valid")], env)
    assert code == 0, seen
    assert "loading the drop folder (validate, quarantine, upsert)..." in seen, seen  # the step running
    # Each step ended, with its time: the load, then the publish of the staged copy.
    assert re.search(r"done ingest \(\d+\.\d s\).*done publish \(\d+\.\d s\)", seen, re.S), seen
    assert "ingest run " in seen and ": succeeded" in seen

    # A step that fails says so (a drop folder that is not there), and nothing is published.
    code, seen = _on_a_terminal(["ingest", str(tmp_path / "no-such-folder")], env)
    assert code == 1
    assert re.search(r"FAILED ingest \(\d+\.\d s\)", seen) and "done" not in seen, seen

    # Piped: the same command's stderr has no progress and no escape codes.
    out = _run(["ingest", str(FIXTURES / "valid")], env)
    assert out.returncode == 0
    assert "done ingest" not in out.stderr and "\x1b[" not in out.stderr + out.stdout
    assert out.stdout.startswith("ingest run ")


def test_demo_names_its_manifest(tmp_path: Path) -> None:
    out = _run(
        ["demo", "--out", str(tmp_path / "feed"), "--scale", "0.02", "--as-of", "2026-12-01"], _env(tmp_path)
    )
    assert out.returncode == 0, out.stderr
    manifest = tmp_path / "feed" / "_demo_manifest.json"
    assert manifest.exists() and f"{manifest};" in out.stdout
    assert json.loads(manifest.read_text())["as_of"] == dt.date(2026, 12, 1).isoformat()


def test_alerts_list_reads_like_the_digest_most_severe_first(tmp_path: Path) -> None:
    """Two shortages at S1 ('Berlin Plant' in dim_sites), both need 21 Dec 2026 (as-of + 20 days).

    M-1 short 30 EA, M-2 short 5 EA (both high, 20 days out); the listing gives each its key (what ack
    takes) and the digest's headline: the site's name and the date in words, 30 not 30.0.
    """
    import duckdb

    from tests.alerts.support import SHORTAGE_RULE_YAML, shortage_warehouse

    data, rules = tmp_path / "data", tmp_path / "rules"
    data.mkdir()
    rules.mkdir()
    (rules / "material_shortage.yaml").write_text(SHORTAGE_RULE_YAML, encoding="utf-8")
    shortage_warehouse(
        data / "warehouse.duckdb", dt.date(2026, 12, 1), [("M-1", "W1", 30.0), ("M-2", "W2", 5.0)]
    )
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        con.execute("create table marts.dim_sites (site_id varchar, name varchar, timezone varchar)")
        con.execute("insert into marts.dim_sites values ('S1', 'Berlin Plant', 'Europe/Berlin')")
    env = _env(data, MEDTOWER_ALERT_RULES_DIR=str(rules), MEDTOWER_SMTP_PORT="1")
    assert _run(["alerts", "run"], env).returncode == 0
    out = _run(["alerts", "list"], env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # Two lines per alert; both high and opened in the same evaluation, so either may come first.
    pairs = sorted(zip(lines[::2], lines[1::2], strict=True))
    assert len(lines) == 4 and pairs == [
        (
            "high      open                         material_shortage:material_id=M-1,site_id=S1",
            "          M-1 short 30 EA at Berlin Plant from 21 Dec 2026",
        ),
        (
            "high      open                         material_shortage:material_id=M-2,site_id=S1",
            "          M-2 short 5 EA at Berlin Plant from 21 Dec 2026",
        ),
    ]


def test_scan_prints_what_one_scan_reads_and_exits_1_when_it_cannot_be_trusted(tmp_path: Path) -> None:
    env = _env(tmp_path)
    # The HIBC standard's example primary: LIC A123, product BJC5D6E7, unit of measure 1, check G.
    out = _run(["scan", "+A123BJC5D6E71G", "--json"], env)
    assert out.returncode == 0, out.stderr
    reading = json.loads(out.stdout)
    assert (reading["carrier"], reading["valid"], reading["reasons"]) == ("hibc", True, [])
    assert (reading["labeler"], reading["product"], reading["unit_of_measure"]) == ("A123", "BJC5D6E7", 1)
    # GS1 example GTIN 09506000134352 in a DataMatrix, (17) 271231, lot AB (no GS after a fixed-length AI)
    out = _run(["scan", "]d2010950600013435217271231" + "10AB"], env)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(None, 1) for line in out.stdout.splitlines())
    assert (lines["valid"], lines["gtin"], lines["lot"], lines["expiry_date"]) == (
        "yes",
        "09506000134352",
        "AB",
        "2027-12-31",
    )
    out = _run(["scan", "+A123BJC5D6E71X"], env)
    assert out.returncode == 1
    assert "valid                  NO" in out.stdout
    assert "reason                 HIBC check character is 'X', expected 'G'" in out.stdout
