"""``make bench-ingest SIZE=N``: ingestion against a plain typed DuckDB load of the same files.

For ``N`` customers (``crmlib.sample.write_sample(N, seed=7, fmt="parquet")``, cached in
``benchmarks/data/<N>/sample``), each in a fresh child process whose peak RSS (the whole
process tree) is sampled every 0.2 s:

* **plain**: ``CREATE TABLE t AS SELECT * FROM read_parquet(...)`` for the six tables into
  a new DuckDB file: the engine's own speed, no validation;
* **crmlib**: :func:`crmlib.ingest.ingest_folder` into a new DuckDB file: every rule, the
  quarantine and the report, under the ingestion memory limit.

The two alternate (plain first on odd runs) so both see the same machine load; the ratio
is crmlib / plain of the medians. With ``--write`` the table goes into RESULTS.md between
the ``<!-- ingest N -->`` markers. Nothing here is asserted: a benchmark reports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import HERE, TABLES, PeakRSS, say

_CHILD = """
import sys, duckdb
from pathlib import Path
folder, db, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
con = duckdb.connect(db)
con.execute("SET enable_progress_bar = false")
if mode == "plain":
    for t in {tables!r}:
        con.execute(f"CREATE TABLE {{t}} AS SELECT * FROM read_parquet('{{folder / t}}.parquet')")
else:
    from crmlib.ingest import ingest_folder
    ingest_folder(folder, con)
con.close()
"""


def _one(sample: Path, mode: str) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of one load in a child process."""
    with tempfile.TemporaryDirectory(prefix="crm-bench-ingest-") as tmp:
        code = _CHILD.format(tables=TABLES)
        args = [sys.executable, "-c", code, str(sample), str(Path(tmp) / "w.duckdb"), mode]
        started = time.perf_counter()
        proc = subprocess.Popen(args, cwd=HERE.parent)
        with PeakRSS(proc.pid) as peak:
            if proc.wait() != 0:
                raise SystemExit(f"the {mode} load failed (exit {proc.returncode})")
        return time.perf_counter() - started, peak.peak


def measure(size: int, repeat: int) -> dict:
    """Generate (once) and load the sample of ``size`` customers ``repeat`` times each way."""
    sample = HERE / "data" / str(size) / "sample"
    generated = None
    if not (sample / "customers.parquet").exists():
        say(f"generating {size:,} customers (seed 7, parquet) into {sample}")
        generate = [sys.executable, "-c", "import sys; from crmlib.sample import write_sample; "
                    "write_sample(sys.argv[1], int(sys.argv[2]), seed=7, fmt='parquet')",
                    str(sample), str(size)]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.Popen(generate, cwd=HERE.parent)
        with PeakRSS(proc.pid) as peak:
            proc.wait()
        generated = (time.perf_counter() - started, peak.peak)
    runs: dict[str, list[tuple[float, int]]] = {"plain": [], "crmlib": []}
    for i in range(repeat):
        for mode in ("plain", "crmlib") if i % 2 == 0 else ("crmlib", "plain"):
            seconds, rss = _one(sample, mode)
            say(f"run {i + 1}/{repeat} {mode}: {seconds:.1f} s, peak {rss / 2**30:.2f} GiB")
            runs[mode].append((seconds, rss))
    out = {m: (statistics.median(s for s, _ in r), max(p for _, p in r)) for m, r in runs.items()}
    return {"size": size, "generated": generated, "runs": runs, "median": out,
            "load": os.getloadavg()[0]}  # fmt: skip


def table(result: dict) -> str:
    """The Markdown table of one size."""
    (plain_s, plain_rss), (crm_s, crm_rss) = result["median"]["plain"], result["median"]["crmlib"]
    gib = 2**30
    lines = [
        f"Ingestion of {result['size']:,} customers (parquet, seed 7), median of "
        f"{len(result['runs']['plain'])} alternating runs each, load average "
        f"{result['load']:.1f}:",
        "",
        "| load | seconds | peak RSS (process tree) |",
        "|---|---|---|",
        f"| plain typed DuckDB load | {plain_s:.1f} | {plain_rss / gib:.2f} GiB |",
        f"| crmlib ingest (validate, quarantine, report) | {crm_s:.1f} | {crm_rss / gib:.2f} GiB |",
        f"| **ratio** | **{crm_s / plain_s:.2f}x** | |",
    ]
    if result["generated"]:
        seconds, rss = result["generated"]
        lines.append(f"\nGeneration: {seconds:.1f} s, peak {rss / gib:.2f} GiB.")
    return "\n".join(lines)


def write(size: int, text: str) -> None:
    """Replace the ``<!-- ingest N -->`` block of RESULTS.md (or append it)."""
    path = HERE / "RESULTS.md"
    begin, end = f"<!-- ingest {size} -->", f"<!-- /ingest {size} -->"
    doc = path.read_text(encoding="utf-8")
    block = f"{begin}\n{text}\n{end}"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end) :]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(doc, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    p.add_argument("--size", type=int, default=1_000_000, help="customers")
    p.add_argument("--repeat", type=int, default=2, help="runs of each load")
    p.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    args = p.parse_args(argv)
    text = table(measure(args.size, args.repeat))
    print(text)
    if args.write:
        write(args.size, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
