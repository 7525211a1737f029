"""Electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.100, §11.200): who signed what, meaning what.

An action that carries regulatory meaning (resolving a quality alert, deciding a quality hold scope,
approving an export for a regulator) is signed: the person gives their user name and password again, every
time (§11.200(a)(1): both components at each signing; there is no "still signed in, so sign with the
password only"), and picks what the signature means. A wrong password counts toward the sign-in lockout
(``medtower.users.authenticate``: the same counter, the same lockout) and is written to the audit trail.

A signature is one audit-trail record (action ``signature``, medtower/audit.py) on the signed record
(``object_type``/``object_id``: its type and id) holding the printed name (the user's full name), the
user name, the meaning and its statement, the SHA-256 of the signed record's canonical content, and a
seal: the SHA-256 of record type, record id, content hash, user and meaning. The trail adds the time in
UTC and at the site. The hash chain keeps the signature itself from being edited; ``verify`` recomputes
each signed record's content hash and compares it, and the record it names, with the signature's: a
signature copied onto another record, or a record changed after signing, is reported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from medtower.settings import Settings
from medtower.users import UserError

# The meanings a signature can carry (§11.50(a)(3)), with the statement the signer makes.
MEANINGS: dict[str, str] = {
    "reviewed": "I have reviewed this record.",
    "approved": "I approve this record.",
    "responsible": "I take responsibility for this record.",
}
ACTION = "signature"
FAILED = "signature_failed"


@dataclass(frozen=True)
class Signing:
    """What a signer gives with a signed action: user name, password (never stored), meaning."""

    user: str
    password: str
    meaning: str

    def __repr__(self) -> str:
        return f"Signing(user={self.user!r}, meaning={self.meaning!r})"


class SignatureError(UserError):
    """A signature refused (wrong password, locked account, unknown meaning); the message says why."""


@dataclass(frozen=True)
class Signature:
    """A signature as it shows beside its record (the manifestation, §11.50)."""

    signature_id: str  # the audit record's record_id
    user: str
    printed_name: str
    meaning: str
    at_utc: str
    at_site: str
    site_tz: str
    record_type: str
    record_id: str
    record_sha256: str

    def manifest(self) -> dict[str, str]:
        return asdict(self)

    def line(self) -> str:
        """'Signed by Dana Kim (dana), approved, 2026-12-02 19:30 UTC (20:30 Europe/Dublin)'."""
        return manifest_line(self.manifest())


def manifest_line(m: dict[str, Any]) -> str:
    utc = str(m.get("at_utc") or "")[:16].replace("T", " ")
    site = str(m.get("at_site") or "")[11:16]
    where = f" ({site} {m.get('site_tz')})" if site and m.get("site_tz") not in (None, "UTC") else ""
    return f"Signed by {m.get('printed_name')} ({m.get('user')}), {m.get('meaning')}, {utc} UTC{where}"


def canonical(record: Any) -> str:
    """The text a signed record's hash is taken over: JSON, keys sorted, no spaces, UTF-8."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(record: Any) -> str:
    return hashlib.sha256(canonical(record).encode("utf-8")).hexdigest()


def seal(record_type: str, record_id: str, record_sha256: str, user: str, meaning: str) -> str:
    """What binds a signature to its one record (§11.70)."""
    text = "\n".join((record_type, record_id, record_sha256, user.lower(), meaning))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_meaning(meaning: str | None) -> str:
    if meaning not in MEANINGS:
        raise SignatureError(f"pick what your signature means: one of {', '.join(MEANINGS)}")
    return str(meaning)


def sign(
    settings: Settings,
    user_name: str,
    password: str,
    meaning: str,
    record_type: str,
    record_id: str,
    record: Any,
    *,
    site: str | None = None,
    action: str | None = None,
) -> Signature:
    """Sign ``record`` (JSON-able content) as ``user_name``; the signature, written to the audit trail.

    ``action``: a roles.ACTIONS entry the signer's role must hold. Raises SignatureError (nothing written
    but the failed attempt) for a wrong password, a locked or disabled account, an unknown meaning or a
    role that may not do ``action``.
    """
    from medtower import audit, users
    from medtower.roles import allowed, describe

    meaning = check_meaning(meaning)
    if not user_name or not user_name.strip():
        raise SignatureError("a signature needs your user name and password")
    if not record_type or not record_id:
        raise ValueError("a signature needs the signed record's type and id")
    attempt = {"record_type": record_type, "record_id": record_id, "meaning": meaning}
    try:
        user = users.authenticate(settings, user_name.strip(), password or "")
    except UserError as exc:
        locked = "locked" in str(exc)
        audit.record(
            settings,
            user_name.strip()[:64],
            "lockout" if locked else FAILED,
            "user",
            user_name.strip()[:64],
            None,
            attempt,
            reason=str(exc),
            site=site,
        )
        raise SignatureError(f"signature refused: {exc}") from exc
    if action and not allowed(user.role, action):
        raise SignatureError(f"{user.name} ({user.role}) may not {describe(action)}")
    digest = content_hash(record)
    rec = audit.record(
        settings,
        user.name,
        ACTION,
        record_type,
        record_id,
        None,
        {
            "user": user.name,
            "printed_name": user.printed_name,
            "meaning": meaning,
            "statement": MEANINGS[meaning],
            "record_sha256": digest,
            "seal": seal(record_type, record_id, digest, user.name, meaning),
        },
        reason=MEANINGS[meaning],
        site=site,
    )
    return Signature(
        signature_id=rec["record_id"],
        user=user.name,
        printed_name=user.printed_name,
        meaning=meaning,
        at_utc=rec["at_utc"],
        at_site=rec["at_site"],
        site_tz=rec["site_tz"],
        record_type=record_type,
        record_id=record_id,
        record_sha256=digest,
    )


# --- verification ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    """A record that is (or must be) signed, as its store holds it, for ``verify``."""

    record_type: str
    record_id: str
    content: Any  # what was signed, rebuilt from the store
    signature_id: str | None  # the signature the record points to (None: unsigned)
    manifest: dict[str, Any] | None = None  # the copy shown beside the record
    required: bool = True


@dataclass
class SignatureCheck:
    ok: bool
    checked: int
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.ok:
            return f"signatures intact: {self.checked:,} signed records checked"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"signatures BROKEN: {self.problems[0]}{more}"


def _trail_signatures(settings: Settings) -> dict[str, dict[str, Any]]:
    from medtower import audit

    return {r["record_id"]: r for r in audit.read(settings, action=ACTION) if r["action"] == ACTION}


def problem(s: Signed, trail: dict[str, dict[str, Any]]) -> str | None:
    """What is wrong with one signed record, or None."""
    what = f"{s.record_type} {s.record_id}"
    if not s.signature_id:
        return f"{what} needs a signature and has none" if s.required else None
    sig = trail.get(s.signature_id)
    if sig is None:
        return f"{what}: its signature {s.signature_id} is not in the audit trail"
    if (sig["object_type"], sig["object_id"]) != (s.record_type, s.record_id):
        return (
            f"{what} carries signature {s.signature_id}, which was made for "
            f"{sig['object_type']} {sig['object_id']}: a signature moved to another record"
        )
    new = sig.get("new") or {}
    digest = content_hash(s.content)
    if new.get("record_sha256") != digest:
        return f"{what} was changed after it was signed (its content no longer has the signed SHA-256)"
    if new.get("seal") != seal(
        s.record_type, s.record_id, digest, str(new.get("user")), str(new.get("meaning"))
    ):
        return f"{what}: the seal of signature {s.signature_id} does not match"
    if s.manifest is not None:
        shown = {k: s.manifest.get(k) for k in ("user", "printed_name", "meaning", "at_utc")}
        kept = {k: new.get(k) for k in ("user", "printed_name", "meaning")} | {"at_utc": sig["at_utc"]}
        if shown != kept:
            return f"{what}: the signature shown beside it differs from the audit trail's"
    return None


def _stores() -> list[Callable[[Settings], Iterable[Signed]]]:
    """Every store that holds signed records (one registry: add a store here)."""
    from medtower.alert_actions import signed_records

    return [signed_records]


def verify(settings: Settings) -> SignatureCheck:
    """Every signed record of every store against its signature in the audit trail."""
    trail = _trail_signatures(settings)
    problems: list[str] = []
    checked = 0
    for store in _stores():
        for s in store(settings):
            checked += 1
            found = problem(s, trail)
            if found:
                problems.append(found)
    return SignatureCheck(not problems, checked, problems)


# --- signed exports ---------------------------------------------------------------------------------------
# A signed CSV starts with "# " lines (the manifest), then the data; a signed XLSX has a "signature" sheet.
# The data's SHA-256 is over the CSV bytes after the manifest, or over every other sheet's cell values.
SIGNATURE_SHEET = "signature"
_CSV_MARK = b"# MedTower signed export"


def _xlsx_digest(data: bytes) -> str:
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    sheets = {
        ws.title: [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
        for ws in book.worksheets
        if ws.title != SIGNATURE_SHEET
    }
    return content_hash(sheets)


def sign_export(
    settings: Settings,
    user_name: str,
    password: str,
    meaning: str,
    file_name: str,
    data: bytes,
    *,
    site: str | None = None,
) -> tuple[bytes, Signature]:
    """An export approved for a regulator: the file with its signature manifest, and the signature.

    ``data``: the CSV or XLSX (by ``file_name``'s suffix) as it would be exported unsigned.
    """
    import uuid

    kind = file_name.rsplit(".", 1)[-1].lower()
    if kind not in ("csv", "xlsx"):
        raise ValueError(f"a signed export is a .csv or .xlsx file, not {file_name!r}")
    digest = _xlsx_digest(data) if kind == "xlsx" else hashlib.sha256(data).hexdigest()
    content = {"file": file_name, "format": kind, "data_sha256": digest}
    sig = sign(
        settings,
        user_name,
        password,
        meaning,
        "export",
        uuid.uuid4().hex,
        content,
        site=site,
        action="export",
    )
    manifest = {**sig.manifest(), **content, "statement": MEANINGS[sig.meaning]}
    if kind == "csv":
        head = [_CSV_MARK.decode() + " (21 CFR Part 11 electronic signature)", sig.line()]
        head += [f"{k}: {v}" for k, v in sorted(manifest.items())]
        return ("\n".join("# " + h.removeprefix("# ") for h in head) + "\n").encode() + data, sig
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    sheet = book.create_sheet(SIGNATURE_SHEET, 0)
    sheet.append(["field", "value"])
    sheet.append(["signed", sig.line()])
    for k, v in sorted(manifest.items()):
        sheet.append([k, str(v)])
    from medtower.spreadsheet import text_only_workbook

    text_only_workbook(book)  # a printed name such as "=1+1" stays text
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), sig


def read_export_manifest(data: bytes) -> tuple[dict[str, str], str]:
    """A signed export's manifest and its data's SHA-256 recomputed; ValueError if it is not signed."""
    import io

    if data.startswith(_CSV_MARK):
        lines = data.split(b"\n")
        n = next(i for i, line in enumerate(lines) if not line.startswith(b"# "))
        manifest = {}
        for line in lines[2:n]:
            k, _, v = line.decode("utf-8")[2:].partition(": ")
            manifest[k] = v
        return manifest, hashlib.sha256(b"\n".join(lines[n:])).hexdigest()
    if data[:2] == b"PK":
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(data), read_only=True)
        if SIGNATURE_SHEET in book.sheetnames:
            rows = list(book[SIGNATURE_SHEET].iter_rows(values_only=True))[2:]
            return {str(k): str(v) for k, v in rows}, _xlsx_digest(data)
    raise ValueError("not a signed MedTower export (no signature manifest)")


def verify_export(settings: Settings, path: Any) -> str | None:
    """A signed export file against its signature in the audit trail; what is wrong, or None."""
    from pathlib import Path

    try:
        manifest, digest = read_export_manifest(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        return str(exc)
    if manifest.get("data_sha256") != digest:
        return "the data was changed after it was signed (its SHA-256 differs from the manifest's)"
    content = {"file": manifest.get("file"), "format": manifest.get("format"), "data_sha256": digest}
    s = Signed("export", str(manifest.get("record_id")), content, manifest.get("signature_id"), manifest)
    return problem(s, _trail_signatures(settings))
