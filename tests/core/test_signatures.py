"""Electronic signatures without a server: the password again (wrong ones counted, five lock the account),
the manifestation (printed name, meaning, time), the binding to one record (a moved signature or a changed
record is caught by `medtower signatures verify`), signed exports, and stores made before signatures.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
from pathlib import Path

import pytest

from medtower import alert_actions, audit, signatures, users
from medtower.cli import main
from medtower.settings import Settings
from medtower.signatures import Signing

PASSWORD = "correct horse battery staple"
QKEY = "quality_exception:material_id=RM-1,site_id=S1,lot_id=LOT-R1"
QKEY2 = "quality_exception:material_id=RM-2,site_id=S1,lot_id=LOT-X9"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(data_dir=tmp_path / "data")
    users.add(s, "quinn", "qa", password=PASSWORD, must_change=False, full_name="Quinn  Avery")
    users.add(s, "dana", "planner", password=PASSWORD, must_change=False)
    return s


def test_a_wrong_signature_password_is_refused_counted_audited_and_five_lock_the_account(
    settings: Settings,
) -> None:
    record = {"what": "a record"}
    for i in range(1, 5):
        with pytest.raises(signatures.SignatureError, match="wrong user name or password"):
            signatures.sign(settings, "quinn", f"not it {i}", "approved", "doc", "D-1", record)
        assert users.get(settings, "quinn").failed == i  # type: ignore[union-attr]
    with pytest.raises(signatures.SignatureError, match="now locked for 15 minutes"):
        signatures.sign(settings, "quinn", "not it 5", "approved", "doc", "D-1", record)
    # The same lockout as the sign-in: the right password is refused now, for signing and signing in.
    with pytest.raises(signatures.SignatureError, match="locked"):
        signatures.sign(settings, "quinn", PASSWORD, "approved", "doc", "D-1", record)
    with pytest.raises(users.UserError, match="locked"):
        users.authenticate(settings, "quinn", PASSWORD)
    trail = audit.read(settings, object_type="user", object_id="quinn")
    assert [r["action"] for r in trail] == ["signature_failed"] * 4 + ["lockout", "lockout"]
    assert trail[0]["new"] == {"record_type": "doc", "record_id": "D-1", "meaning": "approved"}
    assert audit.read(settings, action="signature", object_type="doc") == []  # nothing was signed


def test_an_unknown_meaning_is_refused_before_the_password_is_tried(settings: Settings) -> None:
    with pytest.raises(signatures.SignatureError, match="reviewed, approved, responsible"):
        signatures.sign(settings, "quinn", "wrong", "agreed", "doc", "D-1", {})
    assert users.get(settings, "quinn").failed == 0  # type: ignore[union-attr]


def test_a_signature_shows_printed_name_meaning_and_time_and_is_in_the_trail(settings: Settings) -> None:
    before = dt.datetime.now(dt.UTC)
    sig = signatures.sign(settings, "Quinn", PASSWORD, "reviewed", "doc", "D-7", {"b": 2, "a": 1})
    after = dt.datetime.now(dt.UTC)
    assert (sig.user, sig.printed_name, sig.meaning) == ("quinn", "Quinn Avery", "reviewed")
    at = dt.datetime.fromisoformat(sig.at_utc.replace("Z", "+00:00"))
    assert before <= at <= after
    # The content hash, worked out here: canonical JSON, keys sorted, no spaces.
    import hashlib

    assert sig.record_sha256 == hashlib.sha256(b'{"a":1,"b":2}').hexdigest()
    assert sig.line() == f"Signed by Quinn Avery (quinn), reviewed, {sig.at_utc[:10]} {sig.at_utc[11:16]} UTC"
    (rec,) = audit.read(settings, action="signature")
    assert (rec["actor"], rec["object_type"], rec["object_id"]) == ("quinn", "doc", "D-7")
    assert rec["new"]["printed_name"] == "Quinn Avery" and rec["new"]["meaning"] == "reviewed"
    assert rec["reason"] == "I have reviewed this record."
    assert rec["record_id"] == sig.signature_id and rec["at_utc"] == sig.at_utc


def test_a_quality_resolve_and_a_scope_decision_are_refused_unsigned(settings: Settings) -> None:
    with pytest.raises(ValueError, match="needs your electronic signature"):
        alert_actions.record_decision(settings, QKEY, "resolve", "quinn", "Lots released after retest")
    scope = {"id": "proposed", "lots_to_hold": ["L-1"]}
    with pytest.raises(ValueError, match="needs your electronic signature"):
        alert_actions.record_scope(settings, QKEY, "quinn", scope, True, "Only L-1 is suspect", None)
    # Someone else's name in the signature is refused too (the action is recorded under the actor).
    with pytest.raises(ValueError, match="sign with your own user name"):
        alert_actions.record_decision(
            settings, QKEY, "resolve", "quinn", "released", Signing("dana", PASSWORD, "approved")
        )
    assert alert_actions.read_actions(settings) == []
    # A shortage alert resolves with a comment only, as before.
    row = alert_actions.record_decision(
        settings, "material_shortage:material_id=M-1", "resolve", "dana", "PO in"
    )
    assert row["signature"] is None


def test_a_planner_may_not_widen_a_scope_even_with_a_good_signature(settings: Settings) -> None:
    wider = {"id": "supplier_window", "lots_to_hold": ["L-1", "L-2"]}
    with pytest.raises(signatures.SignatureError, match="may not widen a quality hold scope"):
        alert_actions.record_scope(
            settings, QKEY, "dana", wider, False, "wider", Signing("dana", PASSWORD, "approved")
        )
    assert alert_actions.read_actions(settings) == []


def test_verify_catches_a_moved_signature_a_changed_record_and_a_missing_one(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sign = Signing("quinn", PASSWORD, "approved")
    a = alert_actions.record_decision(settings, QKEY, "resolve", "quinn", "Retest passed", sign)
    b = alert_actions.record_decision(settings, QKEY2, "resolve", "quinn", "Scrapped", sign)
    wider = {
        "id": "supplier_window",
        "label": "Same supplier",
        "lots_to_hold": ["L-1", "L-2"],
        "customers": ["C"],
    }
    alert_actions.record_scope(settings, QKEY, "quinn", wider, False, "Two receipts suspect", sign)
    check = signatures.verify(settings)
    assert check.ok and check.checked == 3, check.problems
    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(settings.data_dir))
    assert main(["signatures", "verify"]) == 0
    assert "signatures intact: 3 signed records checked" in capsys.readouterr().out

    store = sqlite3.connect(alert_actions.store_path(settings))

    def set_(column: str, value: object, action_id: str) -> None:
        with store:
            store.execute(f"update actions set {column} = ? where action_id = ?", (value, action_id))

    # A's signature copied onto B: B's own record, but a signature made for A.
    set_("signature", a["signature"], b["action_id"])
    check = signatures.verify(settings)
    assert not check.ok and len(check.problems) == 1
    assert f"alert_action {b['action_id']} carries signature" in check.problems[0]
    assert f"made for alert_action {a['action_id']}: a signature moved" in check.problems[0]
    assert main(["signatures", "verify"]) == 1
    assert "signatures BROKEN" in capsys.readouterr().out
    set_("signature", b["signature"], b["action_id"])
    assert signatures.verify(settings).ok

    # A's comment edited after signing.
    set_("note", "Retest passed (edited)", a["action_id"])
    (problem,) = signatures.verify(settings).problems
    assert problem.startswith(f"alert_action {a['action_id']} was changed after it was signed")
    set_("note", "Retest passed", a["action_id"])
    # The shown signature made up (another meaning) while the trail's stays.
    shown = json.loads(a["signature"]) | {"meaning": "reviewed"}
    set_("signature", json.dumps(shown), a["action_id"])
    (problem,) = signatures.verify(settings).problems
    assert "differs from the audit trail's" in problem
    # The signature removed: a quality resolve must carry one.
    set_("signature", None, a["action_id"])
    (problem,) = signatures.verify(settings).problems
    assert problem == f"alert_action {a['action_id']} needs a signature and has none"
    store.close()


def test_a_scope_decision_is_audited_with_the_old_and_new_scope_and_why(settings: Settings) -> None:
    sign = Signing("quinn", PASSWORD, "responsible")
    proposed = {"id": "proposed", "lots_to_hold": ["L-1"], "work_orders": ["WO-1"], "customers": []}
    wider = {
        "id": "supplier_window",
        "label": "Same supplier, 14 days",
        "lots_to_hold": ["L-1", "L-2", "L-3"],
        "work_orders": ["WO-1", "WO-2"],
        "shipments": ["SH-1"],
        "customers": ["C-1", "C-2"],
    }
    alert_actions.record_scope(settings, QKEY, "quinn", proposed, True, "Only L-1 failed", sign)
    alert_actions.record_scope(settings, QKEY, "quinn", wider, False, "L-2 shares the campaign", sign)
    first, second = audit.read(settings, action="scope")
    assert first["old"] == {"scope": None} and first["new"]["scope"] == "proposed"
    assert second["old"] == {"scope": "proposed"}
    assert {
        k: second["new"][k] for k in ("scope", "decision", "lots_to_hold", "work_orders", "customers")
    } == {
        "scope": "supplier_window",
        "decision": "wider",
        "lots_to_hold": 3,
        "work_orders": 2,
        "customers": 2,
    }
    assert second["reason"] == "L-2 shares the campaign" and second["actor"] == "quinn"
    sig = audit.read(settings, action="signature")[-1]
    assert second["new"]["signature_id"] == sig["record_id"]
    thread = alert_actions.activity(alert_actions.read_actions(settings))[QKEY]["thread"]
    decided = alert_actions.decided_scope(thread)
    assert decided is not None and decided["details"]["scope_id"] == "supplier_window"
    assert decided["signature"]["printed_name"] == "Quinn Avery"
    assert decided["signature"]["meaning"] == "responsible"


def test_stores_made_before_signatures_keep_working(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data")
    s.data_dir.mkdir(parents=True)
    old_users = sqlite3.connect(users.store_path(s))
    old_users.execute(
        """create table users (name text primary key collate nocase, role text not null,
        sites text not null default '[]', password_hash text not null, must_change integer not null default 1,
        disabled integer not null default 0, failed integer not null default 0, locked_until text,
        password_changed_at text, created_at text not null)"""
    )
    from argon2 import PasswordHasher

    old_users.execute(
        "insert into users (name, role, password_hash, must_change, created_at) values (?, ?, ?, 0, ?)",
        ("olga", "qa", PasswordHasher().hash(PASSWORD), "2025-01-01T00:00:00"),
    )
    old_users.commit()
    old_users.close()
    old_actions = sqlite3.connect(alert_actions.store_path(s))
    old_actions.execute(
        """create table actions (action_id text primary key, alert_key text not null, action text not null,
        actor text not null, at text not null, note text)"""
    )
    old_actions.execute(
        "insert into actions values ('x1', ?, 'comment', 'olga', '2025-01-01T00:00:00', 'hi')", (QKEY,)
    )
    old_actions.commit()
    old_actions.close()
    olga = users.authenticate(s, "olga", PASSWORD)
    assert (olga.full_name, olga.printed_name) == (None, "olga")
    assert users.change(s, "olga", full_name="Olga Petrova").printed_name == "Olga Petrova"
    (old,) = alert_actions.read_actions(s)
    assert (old["note"], old["details"], old["signature"]) == ("hi", None, None)
    row = alert_actions.record_decision(
        s, QKEY, "resolve", "olga", "ok", Signing("olga", PASSWORD, "approved")
    )
    assert json.loads(row["signature"])["printed_name"] == "Olga Petrova"
    assert signatures.verify(s).ok


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_signed_export_carries_its_manifest_and_a_changed_file_is_caught(
    settings: Settings, tmp_path: Path, kind: str
) -> None:
    import hashlib

    import pandas as pd

    frame = pd.DataFrame({"lot_id": ["L-1", "L-2"], "qty": [5, 7]})
    if kind == "csv":
        data = frame.to_csv(index=False).encode()
    else:
        buf = io.BytesIO()
        frame.to_excel(buf, index=False, sheet_name="lots")
        data = buf.getvalue()
    signed, sig = signatures.sign_export(settings, "quinn", PASSWORD, "approved", f"trace.{kind}", data)
    out = tmp_path / f"trace.{kind}"
    out.write_bytes(signed)
    manifest, digest = signatures.read_export_manifest(signed)
    assert manifest["printed_name"] == "Quinn Avery" and manifest["meaning"] == "approved"
    assert manifest["at_utc"] == sig.at_utc and manifest["signature_id"] == sig.signature_id
    if kind == "csv":
        assert signed.endswith(data) and digest == hashlib.sha256(data).hexdigest()
        assert signed.decode().splitlines()[1] == "# " + sig.line()
    assert signatures.verify_export(settings, out) is None
    # Change a quantity after signing.
    if kind == "csv":
        out.write_bytes(signed.replace(b"L-2,7", b"L-2,70"))
    else:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(signed))
        book["lots"]["B3"] = 70
        book.save(out)
    assert "changed after it was signed" in str(signatures.verify_export(settings, out))
