"""``make bench SIZE=N``: the scale benchmark of crm-reports (see benchmarks/RESULTS.md).

One run, one machine, one process (plus the render's kernels):

0. data: ``crmlib.sample.write_sample(N, seed=7, fmt="parquet")`` cached in
   ``benchmarks/data/<N>/sample``; the warehouse built once (``build_warehouse``, cached in
   ``benchmarks/data/<N>/cache``; ingestion time reported separately); the validated tables
   exported once as Parquet (money as DOUBLE) for pandas;
1. (a) the crmlib metric layer: every step of the four notebooks (read from the notebooks by
   :mod:`benchmarks.notebook_calls`) that queries the engine, timed per step;
2. (b) hand-written DuckDB SQL for the same tables (:mod:`benchmarks.sql`), each checked
   equal to crmlib's result (:mod:`benchmarks.cases`);
3. (c) idiomatic pandas on the same tables (:mod:`benchmarks.pandas_impl`), checked too;
4. (d) segmentation (features -> labels, k auto) and BG/NBD + Gamma-Gamma, from (a)'s steps;
5. (e) ``crm-report render`` of the four reports (and of the bundled sample), wall time,
   peak memory of the whole process tree (RSS sampled every 0.2 s), HTML sizes, and the
   cost profile from the executed notebooks' cell timings.

Medians over ``--repeat`` runs (the first run also reported: cold caches). Above a million
customers one run of each (a whole render takes minutes there), no pandas (c) above
:data:`PANDAS_MAX` and no ``--jobs 1`` cost-profile render above :data:`SERIAL_MAX`; the
render is judged at its size's limits (:func:`benchmarks.report.render_limits`). Results go to
``benchmarks/data/<N>/results.json`` and, with ``--write``, into RESULTS.md between the
size's markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

import psutil
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TABLES = ("customers", "orders", "communications", "campaigns", "campaign_contacts", "tickets")
FIT_WORDS = (
    ".fit(",
    "fit_value_models(",
    "holdout_check(",
    "value_forecast(",
    "holdout_comparison(",
    "holdout_error(",
)
SEGMENTATION_STEPS = (
    "segment.features_table(",
    "segment.sample_features(",
    "segment.CustomerSegmenter(",
    "assign_table(",
)
CLV_FIT_STEPS = ("clv.fit_value_models(",)
#: Above this many customers (c) is not run: pandas would hold every table in the
#: benchmark's process (about 20 GB at 10M), which is the design the suite avoids.
PANDAS_MAX = 3_000_000
#: Above this many customers no ``--jobs 1`` render is made for the cost profile: at 10M
#: it is another render of about half an hour.
SERIAL_MAX = 1_000_000


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class PeakRSS:
    """Sample the RSS of a process tree every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    packages = ["ibis-framework", "duckdb", "sqlglot", "pyarrow", "pandas", "numpy"]
    packages += ["scikit-learn", "scipy", "lifelines", "matplotlib", "papermill", "nbconvert"]
    versions = {}
    for name in [*packages, "pyspark"]:
        try:
            versions[name] = version(name)
        except Exception:
            versions[name] = "-"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


# --------------------------------------------------------------------------- data


def prepare(size: int, data_dir: Path, reingest: bool, pandas: bool = True) -> dict:
    from crmlib.sample import write_sample
    from crmlib.warehouse import build_warehouse

    sample = data_dir / "sample"
    info: dict = {}
    stamp = data_dir / "prepare.json"
    if stamp.exists():
        info = json.loads(stamp.read_text())
    if not (sample / "customers.parquet").exists():
        say(f"generating {size:,} customers (seed 7, parquet) into {sample}")
        t = time.perf_counter()
        write_sample(sample, size, seed=7, fmt="parquet")
        info["generate_s"] = time.perf_counter() - t
    from crmlib.warehouse import cache_path

    built = cache_path(sample)
    before = built.stat().st_mtime_ns if built.exists() else None
    t = time.perf_counter()
    path, report = build_warehouse(sample, force=reingest)
    took = time.perf_counter() - t
    rebuilt = before is None or path.stat().st_mtime_ns != before
    if reingest or rebuilt:  # a kept warehouse's check is not an ingestion time
        info["ingest_s"] = took
        info["ingest_when"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info["warehouse"] = str(path)
    info["warehouse_mb"] = round(path.stat().st_size / 1e6, 1)
    info["rows"] = {r["table"]: int(r["rows_loaded"]) for r in report.to_frame().to_dict("records")}
    clean = data_dir / "clean"
    if pandas and not (clean / "tickets.parquet").exists():
        import duckdb

        say("exporting the validated tables as Parquet for pandas")
        clean.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path), read_only=True) as con:
            for name in TABLES:
                cols = con.sql(f"DESCRIBE {name}").fetchall()
                sel = ", ".join(
                    f'CAST("{c}" AS DOUBLE) AS "{c}"' if typ.startswith("DECIMAL") else f'"{c}"'
                    for c, typ, *_ in cols
                )
                # through Arrow: a warehouse opened by crmlib has file access disabled
                table = con.sql(f"SELECT {sel} FROM {name}").fetch_arrow_table()
                pq.write_table(table, clean / f"{name}.parquet")
    stamp.write_text(json.dumps(info, indent=1))
    return info


# --------------------------------------------------------------------------- (a) - (d)


def kind_of(result) -> str:
    if result.touches_engine:
        return "engine"
    if any(w in result.step.source for w in FIT_WORDS):
        return "fit"
    return "pandas"


def run_twins(
    matched: list, ns: dict, impls: tuple, raw, tables, pending: dict, twins: dict
) -> None:
    """Run the twins of every case of one step, timed together per case name.

    A step can compute several tables (the headline step: customers and orders); each table
    has a case, and all share the step's name. The step's twin time is their sum, as the
    step computes them all. Results go to ``pending[(i, impl)]`` (``i``: index into
    ``matched``), times to ``twins[name][impl]``.
    """
    for name in dict.fromkeys(c.name for c in matched):
        for impl in impls:
            t = time.perf_counter()
            for i, case in enumerate(matched):
                if case.name == name:
                    fn = case.sql if impl == "sql" else case.pandas
                    pending[(i, impl)] = fn(raw if impl == "sql" else tables, ns)
            twins[name][impl].append(time.perf_counter() - t)


def run_interleaved(sample: Path, raw, tables: dict, repeat: int) -> tuple[dict, dict]:
    """Run every notebook ``repeat`` times, timing each step (a); right beside each step
    with a twin, time its SQL (b) and pandas (c) versions, so that all three run under the
    same machine load (the twins go first in even runs, after the step in odd runs, so
    neither side always finds DuckDB's cache warmed by the other). The first run checks
    every twin's result against crmlib's. ``tables`` None: no pandas twins (c).
    """
    from benchmarks import pandas_impl
    from benchmarks.cases import CASES, compare, crmlib_value
    from benchmarks.notebook_calls import NOTEBOOKS, run_notebook

    timings: dict[tuple[str, int], dict] = {}
    twins = {c.name: {"sql": [], "pandas": []} for c in CASES}
    impls = ("sql", "pandas") if tables is not None else ("sql",)
    for r in range(repeat):
        if tables is not None:
            pandas_impl.forget(tables)
        for nb in NOTEBOOKS:
            cases = [c for c in CASES if c.notebook == nb.stem]
            pending: dict = {}

            def hook(item, ns, when, cases=cases, pending=pending, r=r):
                step = item if when == "before" else item.step
                matched = [c for c in cases if c.match in step.source]
                if not matched:
                    return
                if when == "before" and r % 2 == 0:
                    run_twins(matched, ns, impls, raw, tables, pending, twins)
                if when == "after":
                    if r % 2 == 1:
                        run_twins(matched, ns, impls, raw, tables, pending, twins)
                    if r == 0:
                        for i, case in enumerate(matched):
                            for impl in impls:
                                compare(crmlib_value(item, case), pending[(i, impl)], case)
                    pending.clear()

            steps = run_notebook(nb, data=str(sample), hook=hook)
            for i, s in enumerate(steps):
                row = timings.setdefault(
                    (nb.stem, i),
                    {
                        "notebook": nb.stem,
                        "cell": s.step.cell,
                        "source": s.step.source.splitlines()[0][:100],
                        "full": s.step.source,
                        "kind": kind_of(s),
                        "runs": [],
                        "engine_runs": [],
                        "fetches": len(s.engine_calls),
                        "max_rows": max([c.rows for c in s.engine_calls] or [0]),
                    },
                )
                row["runs"].append(s.seconds)
                row["engine_runs"].append(sum(c.seconds for c in s.engine_calls))
        say(f"(a, b, c) run {r + 1}/{repeat} done; load {os.getloadavg()[0]:.2f}")
    for row in timings.values():
        row["median"] = statistics.median(row["runs"])
        row["engine_median"] = statistics.median(row["engine_runs"])
        row["first"] = row["runs"][0]
    out = {"pandas": []}
    for impl in impls:
        out[impl] = [
            {"case": name, "runs": v[impl], "median": statistics.median(v[impl])}
            for name, v in twins.items()
        ]
    return timings, out


# --------------------------------------------------------------------------- (e)


def render(data: str, out: Path, env: dict, jobs: int) -> dict:
    """One ``crm-report render`` in a child process: wall, peak RSS, timed progress lines."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(ROOT / ".venv" / "bin" / "crm-report"), "render", "--out", str(out)]
    cmd += ["--jobs", str(jobs)] + (["--data", data] if data else [])
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = []
    with PeakRSS(proc.pid) as peak:
        for line in proc.stderr:
            lines.append((round(time.perf_counter() - started, 2), line.rstrip()))
        proc.wait()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"render failed ({proc.returncode}): {lines[-5:]}")
    folder = next(p for p in out.iterdir() if p.is_dir() and p.name[:4].isdigit())
    run = json.loads((folder / "run.json").read_text())
    books = {}
    for nb in sorted(folder.glob("*.ipynb")):
        doc = json.loads(nb.read_text())
        cells, shift = [], 0
        for i, c in enumerate(doc["cells"]):
            if "injected-parameters" in c["metadata"].get("tags", []):
                shift = 1  # papermill's cell: later cells sit one further than in the source
                continue
            if c["cell_type"] != "code":
                continue
            source = "".join(c["source"]).strip().splitlines()
            cells.append(
                {
                    "cell": i - shift,
                    "seconds": c["metadata"].get("papermill", {}).get("duration") or 0.0,
                    "source": source[0][:90] if source else "",
                }
            )
        books[nb.stem] = {
            "papermill_s": doc["metadata"].get("papermill", {}).get("duration"),
            "cells": cells,
            "html_bytes": (folder / f"{nb.stem}.html").stat().st_size,
        }
    for n in run["notebooks"]:
        books[n["name"]]["run_s"] = n["seconds"]
        books[n["name"]]["status"] = n["status"]
    return {"wall_s": wall, "peak_bytes": peak.peak, "lines": lines, "notebooks": books}


def render_many(data: str, out: Path, env: dict, jobs: int, repeat: int, label: str) -> dict:
    runs = []
    for r in range(repeat):
        runs.append(render(data, out, env, jobs))
        say(
            f"(e) render {label} {r + 1}/{repeat}: {runs[-1]['wall_s']:.1f} s, "
            f"peak {runs[-1]['peak_bytes'] / 2**30:.2f} GiB"
        )
    walls = [r["wall_s"] for r in runs]
    best = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    return {
        "walls": walls,
        "wall_median": statistics.median(walls),
        "peak_max": max(r["peak_bytes"] for r in runs),
        "median_run": best,
    }


def cost_profile(render_run: dict, timings: dict) -> dict:
    """Split each notebook's render time: kernel, imports, queries, fitting, display, HTML."""
    by_cell: dict[tuple[str, int], dict] = {}
    for row in timings.values() if isinstance(timings, dict) else timings:
        d = by_cell.setdefault((row["notebook"], row["cell"]), {"engine": 0.0, "fit": 0.0})
        if row["kind"] in ("engine", "fit"):
            d[row["kind"]] += row["first"]
    profile = {}
    for name, nb in render_run["notebooks"].items():
        if nb.get("status") != "ok":
            continue
        cells = nb["cells"]
        total_cells = sum(c["seconds"] for c in cells)
        parts = {"imports_connect": 0.0, "queries": 0.0, "fitting": 0.0, "display": 0.0}
        for c in cells:
            if c["cell"] == next(x["cell"] for x in cells):  # the parameters cell
                parts["display"] += c["seconds"]
                continue
            if c["source"].startswith("import"):
                parts["imports_connect"] += c["seconds"]
                continue
            d = by_cell.get((name, c["cell"]), {"engine": 0.0, "fit": 0.0})
            share = c["seconds"] / max(d["engine"] + d["fit"], c["seconds"], 1e-9)
            parts["queries"] += d["engine"] * share
            parts["fitting"] += d["fit"] * share
            parts["display"] += max(c["seconds"] - (d["engine"] + d["fit"]) * share, 0.0)
        parts["kernel_and_papermill"] = (nb["papermill_s"] or 0.0) - total_cells
        parts["html_export"] = nb["run_s"] - (nb["papermill_s"] or 0.0)
        parts["total"] = nb["run_s"]
        profile[name] = {k: round(v, 2) for k, v in parts.items()}
    return profile


def serial_profile(sample: Path, env: dict, size: int, timings) -> dict:
    """One render with ``--jobs 1``: each notebook alone on the machine, so a cell's time
    splits into the (a) timings of its queries and fits, and the rest (plots, tables)."""
    run = render(str(sample), HERE / "out" / f"{size}-serial", env, 1)
    say(f"(e) serial render for the cost profile: {run['wall_s']:.1f} s")
    return {"wall_s": run["wall_s"], "peak_bytes": run["peak_bytes"], "run": run,
            "profile": cost_profile(run, timings)}  # fmt: skip


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000, help="customers")
    p.add_argument("--repeat", type=int, default=None, help="runs of (a), (b), (c) (3; 1 above 1M)")
    p.add_argument(
        "--render-repeat", type=int, default=None, help="runs of the full render (2; 1 above 1M)"
    )
    p.add_argument(
        "--pandas-max",
        type=int,
        default=PANDAS_MAX,
        help=f"largest size run in pandas (c) (default {PANDAS_MAX:,})",
    )
    p.add_argument(
        "--serial-max",
        type=int,
        default=SERIAL_MAX,
        help=f"largest size given the --jobs 1 render's cost profile (default {SERIAL_MAX:,})",
    )
    p.add_argument("--jobs", type=int, default=2, help="crm-report render --jobs")
    p.add_argument("--skip-render", action="store_true")
    p.add_argument("--reingest", action="store_true", help="rebuild the warehouse (timed)")
    p.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    p.add_argument(
        "--profile-only",
        action="store_true",
        help="reuse results.json; redo only the serial render and its cost profile",
    )
    args = p.parse_args(argv)
    if args.profile_only:
        return profile_only(args)

    big = args.size > 1_000_000
    repeat = args.repeat if args.repeat is not None else (1 if big else 3)
    render_repeat = args.render_repeat if args.render_repeat is not None else (1 if big else 2)
    pandas = args.size <= args.pandas_max
    data_dir = HERE / "data" / str(args.size)
    cache = data_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["CRM_CACHE_DIR"] = str(cache)
    os.environ.setdefault("MPLBACKEND", "Agg")
    results: dict = {"size": args.size, "machine": machine(), "load_before": os.getloadavg()}
    say(f"size {args.size:,}; load average {results['load_before']}")
    results["data"] = prepare(args.size, data_dir, args.reingest, pandas)
    sample = data_dir / "sample"

    import duckdb

    from benchmarks import pandas_impl

    me = psutil.Process()
    raw = duckdb.connect(results["data"]["warehouse"], read_only=True)
    tables = None
    if pandas:
        t = time.perf_counter()
        tables = pandas_impl.load(data_dir / "clean")
        results["c_load_s"] = time.perf_counter() - t
    else:
        say(f"(c) pandas not run above {args.pandas_max:,} customers: --pandas-max")
        results["c_skipped"] = args.pandas_max
    with PeakRSS(me.pid) as peak:
        timings, twins = run_interleaved(sample, raw, tables, repeat)
    results["bench_peak_bytes"] = peak.peak
    results["steps"] = list(timings.values())
    results["b_sql"], results["c_pandas"] = twins["sql"], twins["pandas"]
    raw.close()
    del tables

    if not args.skip_render:
        env = {**os.environ, "CRM_CACHE_DIR": str(cache), "MPLBACKEND": "Agg"}
        out = HERE / "out" / str(args.size)
        results["render"] = render_many(
            str(sample), out, env, args.jobs, render_repeat, f"{args.size:,}"
        )
        if args.size <= args.serial_max:
            results["serial_render"] = serial_profile(sample, env, args.size, timings)
        else:  # another whole render; the parallel render's cell timings are reported
            say(f"(e) no --jobs 1 render above {args.serial_max:,} customers: --serial-max")
        sample_env = {**env, "CRM_CACHE_DIR": str(HERE / "data" / "bundled-sample-cache")}
        results["render_sample"] = render_many(
            "", HERE / "out" / "sample", sample_env, args.jobs, render_repeat, "sample"
        )
    results["load_after"] = os.getloadavg()
    say(f"load average after: {results['load_after']}")
    (data_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    from benchmarks.report import markdown, write_results

    text = markdown(results)
    print(text)
    if args.write:
        write_results(args.size, text)
        say("benchmarks/RESULTS.md updated")
    return 0


def profile_only(args) -> int:
    data_dir = HERE / "data" / str(args.size)
    os.environ["CRM_CACHE_DIR"] = str(data_dir / "cache")
    results = json.loads((data_dir / "results.json").read_text())
    env = {**os.environ, "MPLBACKEND": "Agg"}
    results["serial_render"] = serial_profile(data_dir / "sample", env, args.size, results["steps"])
    (data_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    from benchmarks.report import markdown, write_results

    text = markdown(results)
    print(text)
    if args.write:
        write_results(args.size, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
