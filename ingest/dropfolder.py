"""Reading a drop folder: which files are entities, and their records as VARCHAR tables.

CSV files are read in bulk by DuckDB's CSV reader (never row by row in Python) into a
temporary table ``src_<entity>`` with one VARCHAR column per header column plus
``_line`` (the physical line of the record in the file; the header is line 1).
Structurally broken records (wrong field count, bad quoting, invalid UTF-8) are
collected by DuckDB's ``store_rejects`` and reported with their line; they never
stop the run.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.contract import Contract, Entity

log = logging.getLogger(__name__)

EXTENSIONS = (".csv", ".xlsx")
_CHUNK = 8 << 20


@dataclass(frozen=True)
class DropFile:
    """One delivery of an entity: a file of the drop folder, or (``label``) a connector's batch."""

    entity: str
    path: Path
    label: str | None = None  # e.g. "erp:purchase_orders"; shown in the summary and the quarantine

    @property
    def name(self) -> str:
        return self.label or self.path.name


@dataclass
class FolderScan:
    files: list[DropFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    # entity -> file names, when one entity is delivered more than once (ambiguous order)
    conflicts: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class StructuralReject:
    line: int | None
    reason: str
    text: str | None  # the offending line as read, for the quarantine record


@dataclass
class ReadResult:
    """One file read into ``table`` (temp table), or a file-level reject."""

    file: DropFile
    sha256: str
    bytes: int
    header: list[str] = field(default_factory=list)
    table: str | None = None
    rows_read: int = 0
    structural: list[StructuralReject] = field(default_factory=list)
    file_error: str | None = None
    raw_text: str | None = None  # a whole delivery refused (e.g. a broken EDI interchange), as received
    has_raw: bool = False  # ``table`` has ``_raw``: each record as the source sent it (connectors)
    # a batch of a large file: the bytes were read from ``chunk`` (the header, then the batch's records),
    # whose line 2 is physical line ``line_offset + 2`` of the file; ``_line`` is already the file's line
    chunk: Path | None = None
    line_offset: int = 0


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def scan_folder(drop_dir: Path, contract: Contract) -> FolderScan:
    """Match ``<entity>.csv|.xlsx`` (any case); everything else is reported as ignored."""
    scan = FolderScan()
    by_entity: dict[str, list[Path]] = {}
    for path in sorted(Path(drop_dir).iterdir(), key=lambda p: p.name):
        if path.is_symlink():  # it could point anywhere: outside the folder, at a device, at itself
            scan.ignored.append(f"{path.name} (a symbolic link: never followed)")
            continue
        if not path.is_file():
            continue
        name = path.name
        stem, suffix = path.stem.lower(), path.suffix.lower()
        if name.startswith(("_", ".")) or suffix not in EXTENSIONS or stem not in contract.entities:
            scan.ignored.append(name)
            continue
        by_entity.setdefault(stem, []).append(path)
    for entity in contract.entities.values():
        paths = by_entity.get(entity.name, [])
        if len(paths) > 1:
            scan.conflicts[entity.name] = [p.name for p in paths]
        for path in paths:
            scan.files.append(DropFile(entity=entity.name, path=path))
    return scan


def _file_facts(path: Path) -> tuple[str, int, int, bool, bytes, int]:
    """sha256, size, newline count, ends-with-newline, the first bytes and the CRLF count, in one pass."""
    digest = hashlib.sha256()
    size = newlines = crlf = 0
    head = b""
    last = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            if not head:
                head = chunk[: 1 << 20]
            digest.update(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
            crlf += (last + chunk[:1]).count(b"\r\n") + chunk.count(b"\r\n")  # one across the read's edge
            last = chunk[-1:]
    return digest.hexdigest(), size, newlines, last == b"\n", head, crlf


@dataclass(frozen=True)
class CsvChunk:
    """One batch of a large CSV: a file of the header and the batch's complete records."""

    path: Path
    line_offset: int  # a line of the chunk is the file's line ``line_offset`` + that line
    newlines: int
    ends_nl: bool
    head: bytes
    crlf: int  # lines ending in CRLF


def _first_record_end(data: bytes) -> int:
    """Index just past the first newline outside quotes (the header's end); -1 when there is none yet."""
    pos = quotes = 0
    while (nl := data.find(b"\n", pos)) >= 0:
        quotes += data.count(b'"', pos, nl)
        if quotes % 2 == 0:
            return nl + 1
        pos = nl + 1
    return -1


def _last_record_end(data: bytes, tries: int = 1000) -> int:
    """Index just past the last newline of ``data`` that ends a record, or -1.

    ``data`` starts at a record boundary; RFC 4180 quotes come in pairs (``""`` inside a quoted field),
    so a newline ends a record when an even number of quotes precede it.
    """
    quotes = data.count(b'"')
    pos = len(data)
    for _ in range(tries):
        nl = data.rfind(b"\n", 0, pos)
        if nl < 0:
            return -1
        quotes -= data.count(b'"', nl + 1, pos)
        if quotes % 2 == 0:
            return nl + 1
        pos = nl
    return -1


class CsvBatches:
    """A CSV file cut at record boundaries into chunk files of about ``batch_bytes``, each with the header.

    One pass over the file, which also hashes it (``sha256`` and ``bytes`` once iterated). Each chunk is
    read by DuckDB exactly as the whole file would be (same options, same line numbering, shifted by the
    chunk's ``line_offset``), so a large file costs the memory of one batch. A quote that never closes
    cannot make a chunk grow past four batches and two records of the contract's longest line: the chunk
    is cut at a newline and DuckDB reports the broken record as it would in the whole file. The chunk
    files live in ``work_dir`` (removed after).
    """

    def __init__(self, path: Path, batch_bytes: int, work_dir: Path, max_record_bytes: int = 1 << 20) -> None:
        self.path, self.batch_bytes, self.work_dir = path, max(int(batch_bytes), 1), work_dir
        # past this much without a record boundary, a quote has not closed: cut at a newline
        self.cut_after = 4 * self.batch_bytes + 2 * max_record_bytes
        self.sha256 = ""
        self.bytes = 0

    def __iter__(self) -> Iterator[CsvChunk]:
        digest = hashlib.sha256()
        size = 0
        self.work_dir.mkdir(parents=True, exist_ok=True)
        step = self.batch_bytes
        try:
            with open(self.path, "rb") as handle:

                def more() -> bytes:
                    nonlocal size
                    block = handle.read(step)
                    digest.update(block)
                    size += len(block)
                    return block

                data, eof = b"", False
                while (end := _first_record_end(data)) < 0:
                    block = more()
                    if not block:
                        eof, end = True, len(data)
                        break
                    data += block
                header, data = data[:end], data[end:]
                header_lines = header.count(b"\n") + (0 if header.endswith(b"\n") else 1)
                if not header.endswith(b"\n"):
                    header += b"\n"
                first_line = header_lines + 1  # the file's line of the next chunk's first record
                number = 0
                while data or not eof:
                    while len(data) < self.batch_bytes and not eof:
                        block = more()
                        eof = not block
                        data += block
                    if not data:
                        break
                    if eof and len(data) <= self.batch_bytes:
                        cut = len(data)
                    else:
                        cut = _last_record_end(data)
                        if cut <= 0 and not eof and len(data) < self.cut_after:
                            block = more()  # one record is longer than the batch: read on
                            eof = not block
                            data += block
                            continue
                        if cut <= 0 and eof and len(data) < self.cut_after:
                            cut = len(data)  # the last record, without a newline at the end
                        elif cut <= 0:  # no record boundary in four batches: cut at a newline
                            cut = data.rfind(b"\n") + 1 or len(data)
                    piece, data = data[:cut], data[cut:]
                    number += 1
                    chunk_path = self.work_dir / f"chunk-{number:05d}.csv"
                    chunk_path.write_bytes(header + piece)
                    yield CsvChunk(
                        path=chunk_path,
                        line_offset=first_line - header_lines - 1,
                        newlines=header.count(b"\n") + piece.count(b"\n"),
                        ends_nl=piece.endswith(b"\n"),
                        head=(header + piece[: 1 << 20]),
                        crlf=header.count(b"\r\n") + piece.count(b"\r\n"),
                    )
                    chunk_path.unlink(missing_ok=True)
                    first_line += piece.count(b"\n")
            self.sha256, self.bytes = digest.hexdigest(), size
        finally:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def _csv_header(head: bytes) -> list[str] | None:
    text = head.decode("utf-8-sig", errors="replace")
    for row in csv.reader(io.StringIO(text)):
        return [c.strip() for c in row]
    return None


def read_file(
    con: duckdb.DuckDBPyConnection, file: DropFile, entity: Entity, max_line_bytes: int = 1 << 20
) -> ReadResult:
    if file.path.suffix.lower() == ".xlsx":
        return _read_xlsx(con, file, entity)
    return _read_csv(con, file, max_line_bytes)


def read_csv_chunk(
    con: duckdb.DuckDBPyConnection, file: DropFile, chunk: CsvChunk, max_line_bytes: int = 1 << 20
) -> ReadResult:
    """One batch of a large CSV (``CsvBatches``) into ``src_<entity>``, numbered by the file's lines."""
    return _read_csv(con, file, max_line_bytes, chunk=chunk)


def original_lines(path: Path, ends: dict[int, int | None]) -> dict[int, bytes]:
    """The bytes of records exactly as delivered: ``ends`` maps a record's first physical line to the
    first line after it (the next record's start; None: the end of the file), as a quoted field may
    span lines. The record's own line terminator is dropped."""
    out: dict[int, list[bytes]] = {}
    last = max((e or 1 << 62) - 1 for e in ends.values()) if ends else 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number > last:
                break
            for start, end in ends.items():
                if start <= number and (end is None or number < end):
                    out.setdefault(start, []).append(line)
    return {k: b"".join(v).removesuffix(b"\n").removesuffix(b"\r") for k, v in out.items()}


def _read_csv(
    con: duckdb.DuckDBPyConnection,
    file: DropFile,
    max_line_bytes: int = 1 << 20,
    _depth: int = 0,
    *,
    chunk: CsvChunk | None = None,
) -> ReadResult:
    """Read ``file`` (or one ``chunk`` of it) into ``src_<entity>``; ``_line`` is the file's physical line."""
    if chunk is None:
        sha, size, newlines, ends_nl, head, crlf = _file_facts(file.path)
        path = file.path
    else:
        sha, size, newlines, ends_nl, head = "", 0, chunk.newlines, chunk.ends_nl, chunk.head
        path, crlf = chunk.path, chunk.crlf
    result = ReadResult(file=file, sha256=sha, bytes=size)
    header = _csv_header(head) if size or chunk is not None else None
    if not header or all(h == "" for h in header):
        result.file_error = f"{file.name} is empty: a header row naming the columns is required"
        return result
    result.header = header
    table = f"src_{file.entity}"
    rej_t, rej_s = f"rej_{file.entity}", f"rejscan_{file.entity}"
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"DROP TABLE IF EXISTS {rej_t}")
    con.execute(f"DROP TABLE IF EXISTS {rej_s}")
    with _one_line_ending(path, newlines, crlf) as readable:
        path_sql = str(readable).replace("'", "''")
        con.execute(
            f"""CREATE TEMP TABLE {table} AS SELECT * FROM read_csv('{path_sql}',
                columns={columns}, header=true, auto_detect=false, delim=',', quote='"', escape='"',
                strict_mode=true, null_padding=false, encoding='utf-8', max_line_size={int(max_line_bytes)},
                store_rejects=true, rejects_table='{rej_t}', rejects_scan='{rej_s}')"""
        )
    n_valid = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    rejects = con.execute(
        f"""SELECT line, string_agg(DISTINCT error_type::VARCHAR, ', '), any_value(csv_line),
                   string_agg(DISTINCT error_message, '; ')
            FROM {rej_t} GROUP BY line ORDER BY line"""
    ).fetchall()
    physical_lines = newlines + (0 if ends_nl else 1)
    reject_lines = [int(r[0]) for r in rejects]
    if physical_lines == 1 + n_valid + len(reject_lines):
        # regular file: one record per physical line, so DuckDB's line numbers are physical lines
        line_of = {ln: ln for ln in reject_lines}
        _number_regular(con, table, reject_lines)
    else:
        line_of = _number_irregular(con, table, path, reject_lines)
    tails: list[tuple[int, list[str]]] = []
    for dline, types, text, message in rejects:
        line = line_of.get(int(dline), int(dline))
        first, *rest = (text or "").strip("\r\n").split("\n")
        if "unterminated quote" in (message or "") and rest and _depth < MAX_REREADS:
            # A quote that never closes would swallow the rest of the file: the broken record is its
            # own line, and the lines after it are read again as records of their own.
            tails.append((line, rest))
            reason = (
                "malformed CSV line: a quote opens and never closes; this line is refused and the lines "
                "after it are read on their own"
            )
            result.structural.append(StructuralReject(line=line, reason=reason, text=first.rstrip("\r")))
            continue
        result.structural.append(
            StructuralReject(
                line=line,
                reason=_structural_reason(types, message, len(header), text or ""),
                text=(text or "").strip("\r\n"),
            )
        )
    result.table = table
    result.rows_read = n_valid + len(reject_lines)
    for line, rest in tails:
        _reread_tail(con, file, result, line, rest, max_line_bytes, _depth)
    if chunk is not None:
        # the chunk's line 2 is the file's line offset + 2: every line number is the file's
        result.chunk, result.line_offset = chunk.path, chunk.line_offset
        if chunk.line_offset:
            con.execute(f"UPDATE {table} SET _line = _line + {int(chunk.line_offset)}").fetchall()
            for s in result.structural:
                if s.line is not None:
                    s.line += chunk.line_offset
    return result


@contextlib.contextmanager
def _one_line_ending(path: Path, newlines: int, crlf: int) -> Iterator[Path]:
    """The file itself, or, when some of its ``newlines`` end in CRLF (``crlf`` of them, counted with the
    file's facts) and others in LF (a line appended by another system), a copy with every CRLF made LF:
    DuckDB's reader takes one line ending per file and fails on the other. Line numbers stay the file's;
    the refused lines' bytes are read from the file."""
    if crlf == 0 or crlf == newlines:
        yield path
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="medtower-lf-") as tmp:
        copy = Path(tmp) / path.name
        with open(path, "rb") as src, open(copy, "wb") as dst:
            tail = b""
            while chunk := src.read(_CHUNK):
                data = tail + chunk
                tail = b"\r" if data.endswith(b"\r") else b""
                dst.write(data[: len(data) - len(tail)].replace(b"\r\n", b"\n"))
            dst.write(tail)
        log.info("%s mixes CRLF and LF line endings (%d of %d lines CRLF): read as LF", path, crlf, newlines)
        yield copy


MAX_REREADS = 16  # unterminated quotes re-read per file; past that the rest stays one refused record


def _reread_tail(
    con: duckdb.DuckDBPyConnection,
    file: DropFile,
    result: ReadResult,
    line: int,
    rest: list[str],
    max_line_bytes: int,
    depth: int,
) -> None:
    """Read the lines after a never-closed quote (physical line ``line``) as records of the same file."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="medtower-tail-") as tmp:
        tail = Path(tmp) / "tail.csv"
        header = ",".join('"' + h.replace('"', '""') + '"' for h in result.header)
        tail.write_text(header + "\n" + "\n".join(rest) + "\n", encoding="utf-8")
        sub = _read_csv(con, DropFile(entity=f"{file.entity}_tail", path=tail), max_line_bytes, depth + 1)
    offset = line - 1  # the tail's line 2 is the physical line after the broken one
    if sub.table:
        cols = ", ".join(f"c{i}" for i in range(len(result.header)))
        con.execute(
            f"INSERT INTO {result.table} (_line, {cols}) SELECT _line + {offset}, {cols} FROM {sub.table}"
        ).fetchall()
        con.execute(f"DROP TABLE IF EXISTS {sub.table}").fetchall()
    for s in sub.structural:
        result.structural.append(
            StructuralReject(line=(s.line or 0) + offset if s.line else None, reason=s.reason, text=s.text)
        )
    result.rows_read += sub.rows_read


def _structural_reason(types: str, message: str, n_header: int, text: str) -> str:
    if "COLUMNS" in types:
        found = len(next(csv.reader([text.strip("\r\n")]), []))
        return f"malformed CSV line: {found} fields, but the header has {n_header} columns"
    if "UNQUOTED" in types or "QUOTE" in types:
        return f"malformed CSV line: bad quoting ({message})"
    if "ENCODING" in types:
        return "malformed CSV line: not valid UTF-8"
    if "LINE_SIZE" in types:
        return f"line longer than the contract's limit (limits.line_bytes): {message}"
    return f"malformed CSV line: {types}: {message}"


def _rowid_base(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """First rowid of a freshly created table: rows were inserted in file order, rowids are contiguous."""
    lo, hi, n = con.execute(f"SELECT min(rowid), max(rowid), count(*) FROM {table}").fetchall()[0]
    if n and hi - lo + 1 != n:
        raise RuntimeError(f"{table}: row ids are not contiguous; cannot number the lines")
    return int(lo or 0)


def _number_regular(con: duckdb.DuckDBPyConnection, table: str, reject_lines: list[int]) -> None:
    """Add ``_line``: the k-th good record sits on the k-th line of 2..N that is not a reject."""
    base = _rowid_base(con, table)
    if not reject_lines:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT rowid - {base} + 2 AS _line, * FROM {table}"
        ).fetchall()
        return
    # thresholds: good record k (1-based) lies after the j-th reject iff k > r_j - j - 1
    thr = pa.table(
        {"t": [r - j - 1 for j, r in enumerate(reject_lines, start=1)], "j": range(1, len(reject_lines) + 1)}
    )
    con.register("_thr_view", thr)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                WITH thr AS (SELECT t, max(j) AS j FROM _thr_view GROUP BY t),
                src AS (SELECT rowid - {base} + 1 AS _k, * FROM {table})
                SELECT CAST(src._k + 1 + coalesce(thr.j, 0) AS BIGINT) AS _line, src.* EXCLUDE (_k)
                FROM src ASOF LEFT JOIN thr ON src._k > thr.t
                ORDER BY src._k"""
        )
    finally:
        con.unregister("_thr_view")


def _number_irregular(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, reject_lines: list[int]
) -> dict[int, int]:
    """Quoted newlines or blank lines: ask Python's csv module where each record starts.

    DuckDB counts a record (or a blank line) as one line; Python's reader tells the
    physical line each record starts on. Only files with such irregularities take this path.
    """
    starts: list[int] = []  # index i -> physical start line of DuckDB "line" i + 2
    blanks: set[int] = set()
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        prev = reader.line_num
        for row in reader:
            dline = len(starts) + 2
            starts.append(prev + 1)
            if not row:
                blanks.add(dline)
            prev = reader.line_num
    rejected = set(reject_lines)
    good = [i + 2 for i in range(len(starts)) if (i + 2) not in blanks and (i + 2) not in rejected]
    n_valid = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    if len(good) != n_valid:
        log.warning("%s: could not map records to physical lines; line numbers count records", path.name)
        _number_regular(con, table, reject_lines)
        return {}
    base = _rowid_base(con, table)
    con.register(
        "_lines_view",
        pa.table(
            {
                "_k": pa.array(range(1, len(good) + 1), pa.int64()),
                "_line": pa.array([starts[d - 2] for d in good], pa.int64()),
            }
        ),
    )
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT l._line, src.* EXCLUDE (_k)
                FROM (SELECT rowid - {base} + 1 AS _k, * FROM {table}) src JOIN _lines_view l USING (_k)
                ORDER BY l._line"""
        )
    finally:
        con.unregister("_lines_view")
    return {d: starts[d - 2] for d in reject_lines if 0 <= d - 2 < len(starts)}


def _cell_text(value: object, ctype: str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if ctype == "date" and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    return text if text.strip() else None


def _read_xlsx(con: duckdb.DuckDBPyConnection, file: DropFile, entity: Entity) -> ReadResult:
    """First sheet, first row is the header. XLSX deliveries are small (Excel's row limit)."""
    import openpyxl

    sha, size = _file_facts(file.path)[:2]
    result = ReadResult(file=file, sha256=sha, bytes=size)
    try:
        book = openpyxl.load_workbook(file.path, read_only=True, data_only=True)
    except Exception as exc:  # a corrupt workbook is a file-level reject, not a crash
        result.file_error = f"{file.name} is not a readable XLSX workbook: {exc}"
        return result
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        header = [str(v).strip() if v is not None else "" for v in (first or ())]
        while header and header[-1] == "":
            header.pop()
        if not header:
            result.file_error = f"{file.name} is empty: a header row naming the columns is required"
            return result
        result.header = header
        types = {}
        for i, name in enumerate(header):
            for col in entity.columns:
                if col.name == name.lower():
                    types[i] = col.type
        cols: list[list[str | None]] = [[] for _ in header]
        lines: list[int] = []
        for line, values in enumerate(rows, start=2):
            cells = [_cell_text(v, types.get(i)) for i, v in enumerate(values)]
            if all(c is None for c in cells):
                continue
            result.rows_read += 1
            overflow = [c for c in cells[len(header) :] if c is not None]
            if overflow:
                result.structural.append(
                    StructuralReject(
                        line=line,
                        reason=f"row has values beyond the {len(header)} header columns",
                        text=",".join("" if c is None else c for c in cells),
                    )
                )
                continue
            cells += [None] * (len(header) - len(cells))
            for i in range(len(header)):
                cols[i].append(cells[i])
            lines.append(line)
    finally:
        book.close()
    data = {"_line": pa.array(lines, pa.int64())}
    data.update({f"c{i}": pa.array(cols[i], pa.string()) for i in range(len(header))})
    table = f"src_{file.entity}"
    con.register("_xlsx_view", pa.table(data))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _xlsx_view")
    finally:
        con.unregister("_xlsx_view")
    result.table = table
    return result
