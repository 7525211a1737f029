"""Signed actions on a real quality alert, against the real app on 127.0.0.1 and the real CLI.

The quality plant of tests/alerts/test_quality_scope.py, evaluated by the shipped quality_exception rule:
one alert (lot LOT-R1 failed incoming inspection) whose plan proposes the supplier-lot scope (4 lots) and
offers "Same supplier +/-14 d" (6 lots, 3 work orders, 2 customers). Raw HTTP shows the server refusing an
unsigned or badly signed resolve and a scope decision by a role that may not make one; the CLI signs with
the password on stdin; Chromium resolves with a signature as a person does and records a wider scope
that is still the decided one after a reload.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from medtower import alert_actions, audit, signatures, users
from medtower.settings import Settings
from tests.alerts.test_quality_scope import KEY, evaluated_plant
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, need_chromium
from tests.dashboards.test_access import _act
from tests.served_app import callback_key, post, run_app
from tests.signin import TEST_PASSWORD, add_user, http_client, signed_in_page

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("signed")
    settings = Settings(data_dir=base / "data", planner_emails=[])
    con = evaluated_plant(settings)
    # The columns the traceability page's suspect list reads beyond what the alert rule needs.
    con.execute("alter table marts.fct_inspections add column completed_at timestamp")
    con.execute("alter table marts.fct_nonconformances add column status varchar")
    con.execute("alter table marts.fct_nonconformances add column opened_at timestamp")
    con.close()
    add_user(settings.data_dir, "quinn", "qa")
    users.change(settings, "quinn", full_name="Quinn Avery")
    add_user(settings.data_dir, "dana", "planner")
    add_user(settings.data_dir, "cli.qa", "qa")
    with run_app(settings.data_dir, base / "app.log") as app:
        yield {"url": app.url, "settings": settings, "env": app.env}


def _record_scope(client: httpx.Client, scope: str, sign: tuple = (None,) * 3) -> httpx.Response:
    """The 'Record this scope' button's callback as Dash's renderer sends it."""
    return post(
        client,
        [
            {"id": "alerts-scope-result", "property": "children"},
            {"id": "alerts-version", "property": "data"},
            {"id": "alerts-scope-sign-password", "property": "value"},
        ],
        [{"id": "alerts-scope-record", "property": "n_clicks", "value": 1}],
        state=[
            {"id": "alerts-selected", "property": "data", "value": KEY},
            [{"id": {"type": "alerts-scope", "key": KEY}, "property": "value", "value": scope}],
            {"id": "alerts-scope-reason", "property": "value", "value": "F2 came in the same campaign"},
            *(
                {"id": f"alerts-scope-sign-{field}", "property": "value", "value": value}
                for field, value in zip(("user", "password", "meaning"), sign, strict=True)
            ),
            {"id": "alerts-version", "property": "data", "value": {"n": 1}},
        ],
        changed=["alerts-scope-record.n_clicks"],
        output=callback_key(client, "alerts-scope-result.children"),
    )


def test_the_server_refuses_an_unsigned_or_badly_signed_quality_resolve_and_scope(served: dict) -> None:
    settings = served["settings"]
    qa = http_client(served["url"], "quinn", TEST_PASSWORD)
    unsigned = _act(qa, "alerts-resolve", "Retest passed", key=KEY)
    assert unsigned.status_code == 200
    assert (
        "needs your electronic signature" in unsigned.json()["response"]["alerts-action-result"]["children"]
    )
    wrong = _act(
        qa, "alerts-resolve", "Retest passed", key=KEY, sign=("quinn", "not my password", "approved")
    )
    said = wrong.json()["response"]
    assert "Signature refused: wrong user name or password" in said["alerts-action-result"]["children"]
    assert said["alerts-sign-password"]["value"] == ""  # the password field is emptied
    assert users.get(settings, "quinn").failed == 1  # type: ignore[union-attr]
    # Someone else's user name in the signature: refused without trying the password.
    other = _act(qa, "alerts-resolve", "Retest passed", key=KEY, sign=("dana", TEST_PASSWORD, "approved"))
    assert "Sign with your own user name" in other.json()["response"]["alerts-action-result"]["children"]
    assert [a for a in alert_actions.read_actions(settings) if a["alert_key"] == KEY] == []

    # A planner may not record a hold scope: the server's guard refuses the button itself.
    planner = http_client(served["url"], "dana", TEST_PASSWORD)
    refused = _record_scope(planner, "supplier_lot", ("dana", TEST_PASSWORD, "approved"))
    assert refused.status_code == 403 and "hold scope" in refused.json()["error"]
    unsigned_scope = _record_scope(qa, "supplier_window")
    assert (
        "needs your electronic signature"
        in unsigned_scope.json()["response"]["alerts-scope-result"]["children"]
    )
    assert [a for a in alert_actions.read_actions(settings) if a["alert_key"] == KEY] == []
    # The right password resets the failure count (as a sign-in does).
    done = _record_scope(qa, "supplier_lot", ("quinn", TEST_PASSWORD, "reviewed"))
    assert "Scope supplier_lot recorded. Signed by Quinn Avery (quinn), reviewed" in done.text
    assert users.get(settings, "quinn").failed == 0  # type: ignore[union-attr]
    (row,) = [a for a in alert_actions.read_actions(settings) if a["action"] == "scope"]
    # The counts come from the stored plan (4 lots, 2 work orders, 1 customer), not from the browser.
    assert '"lots_to_hold": 4' in row["details"] and '"work_orders": 2' in row["details"]
    assert '"customers": 1' in row["details"]


def test_the_cli_resolves_a_quality_alert_only_signed_password_from_stdin(served: dict) -> None:
    settings = served["settings"]
    exe = str(Path(sys.executable).with_name("medtower"))  # the installed command: its records say "cli"
    cmd = [exe, "alerts", "resolve", KEY, "--user", "cli.qa", "--comment", "ok"]
    run = dict(cwd=ROOT, env=served["env"], capture_output=True, text=True, timeout=120)
    bare = subprocess.run(cmd, **run)  # type: ignore[call-overload]
    assert bare.returncode == 2 and "add --meaning reviewed|approved|responsible" in bare.stderr
    no_tty = subprocess.run([*cmd, "--meaning", "approved"], stdin=subprocess.DEVNULL, **run)  # type: ignore[call-overload]
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    wrong = subprocess.run([*cmd, "--meaning", "approved", "--password-stdin"], input="nope\n", **run)  # type: ignore[call-overload]
    assert wrong.returncode == 2 and "wrong user name or password" in wrong.stderr
    good = subprocess.run(
        [*cmd, "--meaning", "approved", "--password-stdin"], input=TEST_PASSWORD + "\n", **run
    )  # type: ignore[call-overload]
    assert good.returncode == 0, good.stderr
    assert "Signed by cli.qa (cli.qa), approved" in good.stdout  # no full name: the user name is printed
    failed = audit.read(settings, action="signature_failed", object_id="cli.qa")
    assert len(failed) == 1 and failed[0]["source"] == "cli"
    resolved = [a for a in alert_actions.read_actions(settings) if a["actor"] == "cli.qa"]
    assert len(resolved) == 1 and resolved[0]["signature"]


def test_a_signed_trace_export_carries_its_manifest_and_the_trail_holds_its_sha256(served: dict) -> None:
    import base64
    import hashlib

    settings = served["settings"]
    qa = http_client(served["url"], "quinn", TEST_PASSWORD)

    def export(sign: tuple) -> httpx.Response:
        return post(
            qa,
            [
                {"id": "trace-download", "property": "data"},
                {"id": "trace-sign-result", "property": "children"},
                {"id": "trace-sign-password", "property": "value"},
            ],
            [
                {"id": "trace-sign-csv", "property": "n_clicks", "value": 1},
                {"id": "trace-sign-xlsx", "property": "n_clicks", "value": 0},
            ],
            state=[
                {"id": "trace-q", "property": "value", "value": "LOT-R1"},
                {"id": "trace-direction", "property": "value", "value": "forward"},
                *(
                    {"id": f"trace-sign-{field}", "property": "value", "value": value}
                    for field, value in zip(("user", "password", "meaning"), sign, strict=True)
                ),
            ],
            changed=["trace-sign-csv.n_clicks"],
            output=callback_key(qa, "trace-sign-result.children"),
        )

    wrong_resp = export(("quinn", "not it", "approved"))
    assert wrong_resp.status_code == 200, wrong_resp.text[:300]
    wrong = wrong_resp.json()["response"]
    assert (
        "trace-download" not in wrong
        and "wrong user name or password" in wrong["trace-sign-result"]["children"]
    )
    said = export(("quinn", TEST_PASSWORD, "approved")).json()["response"]
    sent = said["trace-download"]["data"]
    data = base64.b64decode(sent["content"])
    assert sent["filename"] == "medtower-trace-forward-LOT-R1-signed.csv"
    lines = data.decode().splitlines()
    assert lines[0].startswith("# MedTower signed export") and lines[1].startswith("# Signed by Quinn Avery")
    assert lines[-1].startswith("LOT-R1,RM-1,Tyvek pouch,")  # the data follows the manifest
    (rec,) = [r for r in audit.read(settings, action="export") if (r["new"] or {}).get("signature_id")]
    assert rec["new"]["sha256"] == hashlib.sha256(data).hexdigest() and rec["actor"] == "quinn"
    out = Path(served["settings"].data_dir) / sent["filename"]
    out.write_bytes(data)
    exe = str(Path(sys.executable).with_name("medtower"))
    run = dict(cwd=ROOT, env=served["env"], capture_output=True, text=True, timeout=120)
    ok = subprocess.run([exe, "signatures", "verify", "--file", str(out)], **run)  # type: ignore[call-overload]
    assert ok.returncode == 0 and f"{out}: signature intact" in ok.stdout, ok.stdout
    out.write_bytes(data.replace(b"SL-100", b"SL-101"))
    bad = subprocess.run([exe, "signatures", "verify", "--file", str(out)], **run)  # type: ignore[call-overload]
    assert bad.returncode == 1 and "changed after it was signed" in bad.stdout


def _choose(page: Any, dropdown: str, option: str) -> None:
    """Pick an option of a dropdown as a person does: open it, click the option."""
    page.click(dropdown)
    page.get_by_role("option", name=option).click()


@pytest.mark.browser
def test_in_chromium_qa_resolves_with_a_signature_and_widens_the_scope(served: dict) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    url = served["url"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        errors: list[str] = []
        page = signed_in_page(browser, url, "quinn")
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url + "/alerts?alert=" + quote(KEY))
        page.wait_for_selector("#alerts-sign", state="visible")
        page.wait_for_selector("#alerts-scope-decided")
        page.fill("#alerts-comment", "Retest of LOT-R1 passed; lots released")
        page.fill("#alerts-sign-user", "quinn")
        page.fill("#alerts-sign-password", TEST_PASSWORD)
        _choose(page, "#alerts-sign-meaning", "approved: I approve this record.")
        page.click("#alerts-resolve")
        page.wait_for_selector("#alerts-action-result:has-text('Signed by')", timeout=30000)
        said = page.inner_text("#alerts-action-result")
        assert said.startswith("Resolved by quinn at ") and "Signed by Quinn Avery (quinn), approved" in said
        assert page.input_value("#alerts-sign-password") == ""
        page.wait_for_selector(".thread-resolve .signature-line")
        line = page.locator(".thread-resolve .signature-line").last.inner_text()  # the CLI's came first
        assert line.startswith("Signed by Quinn Avery (quinn), approved, 20") and " UTC" in line

        page.check("input[value='supplier_window']")
        page.wait_for_selector(".scope-lots_to_hold:has-text('Lots to hold (6)')")
        page.fill("#alerts-scope-reason", "LOT-F2 came in the same supplier campaign")
        page.fill("#alerts-scope-sign-user", "quinn")
        page.fill("#alerts-scope-sign-password", TEST_PASSWORD)
        _choose(page, "#alerts-scope-sign-meaning", "responsible: I take responsibility for this record.")
        page.click("#alerts-scope-record")
        page.wait_for_selector("#alerts-scope-decided:has-text('widened to')", timeout=30000)

        page.reload()
        page.wait_for_selector("#alerts-scope-decided:has-text('widened to')", timeout=30000)
        decided = page.inner_text("#alerts-scope-decided")
        assert "widened to Same supplier +/-14 d (6 lots, 3 work orders, 2 customers) by quinn" in decided
        assert "LOT-F2 came in the same supplier campaign" in decided
        assert "Signed by Quinn Avery (quinn), responsible" in decided
        assert page.is_checked("input[value='supplier_window']")
        assert page.inner_text(".scope-lots_to_hold").startswith("Lots to hold (6)")
        thread = page.inner_text("#alerts-thread")
        assert "decided the hold scope: widened to Same supplier" in thread
        assert errors == [], errors
        browser.close()
    check = signatures.verify(served["settings"])
    assert check.ok, check.problems
