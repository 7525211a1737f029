"""Ingest throughput: N synthetic inventory movements through ingest_folder.

    .venv/bin/python tests/benchmarks/bench_ingest.py 1000000 [--keep DIR]

Prints the CSV size, the first (cold) and the second (all unchanged) run's rows/s and CPU seconds
and the process's peak RSS. The connection is a writer's (``connect_writer``: MEDTOWER_DUCKDB_MEMORY_LIMIT,
_THREADS, _TEMP_DIRECTORY apply), and MEDTOWER_INGEST_BATCH_BYTES sets the batch of a large file.
Not collected by pytest (bench_*.py).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ingest.load import ingest_folder
from medtower.settings import Settings
from medtower.warehouse import connect_writer

N_LOTS = 50_000


def write_feed(folder: Path, n: int) -> None:
    (folder / "sites.csv").write_text(
        "site_id,name,country,timezone\nS1,Berlin,DE,Europe/Berlin\nS2,Shenzhen,CN,Asia/Shanghai\n"
    )
    lines = [
        "material_id,description,material_type,uom,lot_controlled,serial_controlled,status",
        *(f"M{i},Material {i},component,EA,true,false,active" for i in range(500)),
    ]
    (folder / "materials.csv").write_text("\n".join(lines) + "\n")
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 'L' || i AS lot_id, 'M' || (i % 500) AS material_id, 'S' || (1 + i % 2) AS site_id,
                    'received' AS origin, 'released' AS status, '2024-01-01T00:00:00' AS status_changed_at
             FROM range({N_LOTS}) t(i)) TO '{folder / "lots.csv"}' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT 'MV' || i AS movement_id,
                    strftime(TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND, '%Y-%m-%dT%H:%M:%S')
                      || CASE WHEN i % 10 = 0 THEN '+00:00' ELSE '' END AS moved_at,
                    'S' || (1 + i % 2) AS site_id, 'WH-' || (i % 40) AS location,
                    'M' || (i % 500) AS material_id, 'L' || (i % {N_LOTS}) AS lot_id, NULL AS serial,
                    CAST((i % 97) - 40 AS VARCHAR) || '.5' AS qty,
                    CASE i % 3 WHEN 0 THEN 'receipt' WHEN 1 THEN 'issue' ELSE 'transfer_in' END
                      AS movement_type,
                    'po' AS reference_type, 'PO' || (i % 9000) AS reference_id,
                    CAST(i % 9 AS VARCHAR) AS reference_line
             FROM range({n}) t(i)) TO '{folder / "inventory_movements.csv"}' (HEADER)"""
    )
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", type=int)
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    drop = work / "drop"
    drop.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    write_feed(drop, args.rows)
    size = (drop / "inventory_movements.csv").stat().st_size
    print(f"generated {args.rows:,} movements ({size / 1e6:,.0f} MB) in {time.perf_counter() - t0:.1f}s")
    db = work / "bench.duckdb"
    db.unlink(missing_ok=True)
    settings = Settings(data_dir=work)
    con = connect_writer(settings, db)
    print(f"batch {settings.ingest_batch_bytes:,} bytes, DuckDB memory_limit {settings.duckdb_memory_limit}")
    for label in ("first run", "re-run (unchanged)"):
        t0, c0 = time.perf_counter(), time.process_time()
        result = ingest_folder(con, drop, settings)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        mv = next(e for e in result["entities"] if e["entity"] == "inventory_movements")
        print(
            f"{label}: {result['outcome']} in {secs:.1f}s ({cpu:.1f} CPU s), {args.rows / secs:,.0f} rows/s "
            f"(loaded {mv['rows_loaded']:,}, unchanged {mv['rows_unchanged']:,}, "
            f"rejected {mv['rows_rejected']:,})" + (f" error={result['error']}" if result["error"] else "")
        )
    con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB")


if __name__ == "__main__":
    main()
