"""Turn a benchmark's ``results.json`` into the Markdown tables of RESULTS.md."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
GIB = 2**30
TARGETS = {
    "metric_vs_sql": 1.25,
    "pandas_vs_metric": 1.5,
    "segmentation_s": 15.0,
    "clv_s": 30.0,
    "render_s": 120.0,  # up to 100k customers; render_limits() for larger sizes
    "html_mb": 2.0,
    "vs_sample": 1.5,
}


def render_limits(size: int) -> tuple[float, float]:
    """The render's wall-time (s) and peak-memory (bytes) limits at ``size`` customers:
    120 s and 4 GB up to 100k (the first benchmark issue), 45 s and 4 GB at 1M, 6 minutes
    and 8 GB at 10M (the ten-million issue); in between, the next size up's."""
    if size <= 100_000:
        return TARGETS["render_s"], 4e9
    if size <= 1_000_000:
        return 45.0, 4e9
    return 360.0, 8e9


def _ingestion(data: dict) -> str:
    """The ingestion sentence: its time when this data's warehouse was built by a run of the
    benchmark, else that it was kept (built elsewhere, e.g. by a render; `make bench-ingest`
    times ingestion against a plain load)."""
    if data.get("ingest_s") is None:
        return (
            "ingestion not timed here (the warehouse was built before this benchmark first "
            "ran on this data; `make bench-ingest` times it against a plain load)."
        )
    return (
        f"ingestion (validate + load, once, cached) {data['ingest_s']:.0f} s "
        f"({data.get('ingest_when', '')})."
    )


def _ok(good: bool) -> str:
    return "met" if good else "**missed**"


def summary(res: dict) -> dict:
    """The headline numbers of one run (also used by the tests)."""
    from benchmarks.cases import CASES

    steps = res["steps"]
    covered_names = {c.name for c in CASES}
    case_rows = {r["case"]: r for r in res["b_sql"]}
    pandas_rows = {r["case"]: r for r in res["c_pandas"]}
    nan = float("nan")
    crm = {}
    for case in CASES:
        match = [s for s in steps if s["notebook"] == case.notebook and case.match in s["full"]]
        crm[case.name] = match[0]["median"] if match else float("nan")
    a_cov = sum(crm.values())
    b = sum(case_rows[n]["median"] for n in covered_names)
    c = sum(pandas_rows[n]["median"] for n in covered_names) if pandas_rows else nan
    engine = [s for s in steps if s["kind"] == "engine"]
    a_all = sum(s["median"] for s in engine)
    seg = sum(s["median"] for s in steps if any(w in s["full"] for w in _SEG))
    clv_fit = sum(s["median"] for s in steps if any(w in s["full"] for w in _CLV))
    clv_query = sum(
        s["median"]
        for s in steps
        if any(w in s["full"] for w in ("clv.sample_summary(", "clv.value_forecast_table("))
    )
    out = {
        "a_covered": a_cov,
        "b_sql": b,
        "c_pandas": c,
        "c_load": res.get("c_load_s", float("nan")),
        "a_all_engine_steps": a_all,
        "a_engine_only": sum(s["engine_median"] for s in engine),
        "metric_vs_sql": a_cov / b,
        "pandas_vs_metric": c / a_cov,
        "pandas_with_load_vs_metric": (c + res.get("c_load_s", 0)) / a_cov,
        "segmentation_s": seg,
        "clv_fit_s": clv_fit,
        "clv_s": clv_fit + clv_query,
        "per_case": [
            (n, crm[n], case_rows[n]["median"], pandas_rows.get(n, {}).get("median", nan))
            for n in crm
        ],
    }
    if "render" in res:
        r = res["render"]
        out["render_s"] = r["wall_median"]
        out["peak_gib"] = r["peak_max"] / GIB
        out["html_mb"] = max(nb["html_bytes"] for nb in r["median_run"]["notebooks"].values()) / 1e6
        out["sample_render_s"] = res["render_sample"]["wall_median"]
        out["vs_sample"] = out["render_s"] / out["sample_render_s"]
    return out


_SEG = ("segment.customer_features(", "segment.CustomerSegmenter(", "segmenter.segment_names(")
_CLV = ("clv.fit_value_models(",)


def markdown(res: dict) -> str:
    s = summary(res)
    m = res["machine"]
    n = res["size"]
    lines = [
        f"### {n:,} customers",
        "",
        f"Run {m['date']} on {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GiB RAM, "
        f"Python {m['python']}; load average before {_load(res['load_before'])}, "
        f"after {_load(res['load_after'])}.",
        "",
        "Rows loaded: "
        + ", ".join(f"{t} {v:,}" for t, v in res["data"]["rows"].items())
        + f". Warehouse {res['data']['warehouse_mb']:,} MB; "
        + _ingestion(res["data"]),
        "",
        "| target | measured | limit | |",
        "|---|---|---|---|",
        f"| metric layer vs hand-written SQL (same {len(s['per_case'])} tables) | "
        f"{s['metric_vs_sql']:.2f}x ({s['a_covered']:.1f} s vs {s['b_sql']:.1f} s) | <= 1.25x | "
        f"{_ok(s['metric_vs_sql'] <= TARGETS['metric_vs_sql'])} |",
        (
            f"| pandas vs metric layer (compute only; with load) | {s['pandas_vs_metric']:.2f}x "
            f"({s['c_pandas']:.1f} s); {s['pandas_with_load_vs_metric']:.2f}x (+"
            f"{s['c_load']:.1f} s read_parquet) | >= 1.5x | "
            f"{_ok(s['pandas_vs_metric'] >= TARGETS['pandas_vs_metric'])} |"
            if "c_skipped" not in res
            else f"| pandas vs metric layer | not run above {res['c_skipped']:,} customers "
            "(pandas would hold every table in one process) | >= 1.5x | — |"
        ),
        f"| segmentation: features -> labels, k auto | {s['segmentation_s']:.1f} s | <= 15 s | "
        f"{_ok(s['segmentation_s'] <= TARGETS['segmentation_s'])} |",
        f"| BG/NBD + Gamma-Gamma: rfm_summary query + both fits | {s['clv_s']:.1f} s (fits "
        f"{s['clv_fit_s']:.1f} s) | <= 30 s | {_ok(s['clv_s'] <= TARGETS['clv_s'])} |",
    ]
    if "render_s" in s:
        r = res["render"]
        wall_limit, peak_limit = render_limits(n)
        lines += [
            f"| full render, 4 reports (wall, median of {len(r['walls'])}: "
            f"{', '.join(f'{w:.0f}' for w in r['walls'])} s) | {s['render_s']:.0f} s | "
            f"<= {wall_limit:.0f} s | {_ok(s['render_s'] <= wall_limit)} |",
            # both units: the limit is in GB (10^9 bytes), psutil's RSS read in GiB
            f"| peak memory, whole process tree | {s['peak_gib']:.2f} GiB "
            f"({s['peak_gib'] * GIB / 1e9:.2f} GB) | "
            f"<= {peak_limit / 1e9:.0f} GB | {_ok(s['peak_gib'] * GIB <= peak_limit)} |",
            f"| largest HTML | {s['html_mb']:.2f} MB | <= 2 MB | "
            f"{_ok(s['html_mb'] <= TARGETS['html_mb'])} |",
            f"| render vs the bundled sample's ({s['sample_render_s']:.0f} s) | "
            f"{s['vs_sample']:.2f}x | <= 1.5x at 100k | "
            + (_ok(s["vs_sample"] <= TARGETS["vs_sample"]) if n <= 100_000 else "(100k only)")
            + " |",
        ]
    lines += [
        "",
        f"Metric layer, all {sum(1 for x in res['steps'] if x['kind'] == 'engine')} notebook "
        f"steps that query the engine: {s['a_all_engine_steps']:.1f} s (median per step; of "
        f"which inside the engine and Arrow {s['a_engine_only']:.1f} s); first, cold run "
        f"{sum(x['first'] for x in res['steps'] if x['kind'] == 'engine'):.1f} s. Peak RSS of "
        f"the benchmark process (crmlib, SQL and any pandas tables in memory): "
        f"{res['bench_peak_bytes'] / GIB:.2f} GiB.",
        "",
        "| table (notebook: step) | crmlib s | SQL s | pandas s | crmlib / SQL | pandas / crmlib |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, a, b, c in sorted(s["per_case"], key=lambda x: -x[1]):
        lines.append(
            f"| {name.replace('|', '/')} | {a:.2f} | {b:.2f} | {_num(c)} | {a / b:.2f} | "
            f"{_num(c / a)} |"
        )
    lines.append(
        f"| **total** | **{s['a_covered']:.2f}** | **{s['b_sql']:.2f}** | "
        f"**{_num(s['c_pandas'])}** | **{s['metric_vs_sql']:.2f}** | "
        f"**{_num(s['pandas_vs_metric'])}** |"
    )
    uncovered = [
        x
        for x in res["steps"]
        if x["kind"] == "engine"
        and not any(name.split(": ", 1)[1] in x["full"] for name, *_ in s["per_case"])
    ]
    lines += [
        "",
        f"Engine steps without a hand-written twin ({len(uncovered)}, "
        f"{sum(x['median'] for x in uncovered):.1f} s together): "
        + "; ".join(
            f"{x['notebook']} `{x['source'][:60]}` {x['median']:.2f} s"
            for x in sorted(uncovered, key=lambda x: -x["median"])[:12]
        )
        + ("; ..." if len(uncovered) > 12 else "")
        + ".",
        "",
    ]
    if "serial_render" in res:
        sr = res["serial_render"]
        lines += [
            f"Where the render's time goes: one more render with `--jobs 1` "
            f"({sr['wall_s']:.0f} s wall, peak {sr['peak_bytes'] / GIB:.2f} GiB), so that each "
            "notebook has the machine to itself; seconds per notebook from the executed "
            "notebooks' cell timings, queries and model fitting being the cold-run timings of "
            "those steps in (a), and the rest of each cell its figures, tables and pandas work:",
            "",
            "| notebook | kernel + papermill | imports + connect | queries | model fitting | "
            "plots, tables, pandas | HTML export | total |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, p in sr["profile"].items():
            html_kb = sr["run"]["notebooks"][name]["html_bytes"] / 1e3
            lines.append(
                f"| {name} ({html_kb:,.0f} kB) | {p['kernel_and_papermill']:.1f} | "
                f"{p['imports_connect']:.1f} | {p['queries']:.1f} | {p['fitting']:.1f} | "
                f"{p['display']:.1f} | {p['html_export']:.1f} | {p['total']:.1f} |"
            )
        lines.append("")
    if "render" in res:
        rl = res["render"]["median_run"]["lines"]
        lines += ["Progress of the median parallel render (seconds since start):", ""]
        lines += [f"    {t:6.1f}  {text}" for t, text in rl if "WARNING" not in text]
        lines.append("")
    slow = sorted(res["steps"], key=lambda x: -x["median"])[:15]
    lines += [
        "Slowest notebook steps (median of the runs of (a), seconds):",
        "",
        "| notebook | kind | step | median | cold | rows fetched (largest) |",
        "|---|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {x['notebook']} | {x['kind']} | `{x['source'][:70]}` | {x['median']:.2f} | "
        f"{x['first']:.2f} | {x['max_rows']:,} |"
        for x in slow
    ]
    return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    """Two decimals, or "—" for a measurement not made (NaN)."""
    return "—" if value != value else f"{value:.2f}"


def _load(values) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def write_results(size: int, text: str) -> None:
    """Replace the block between ``<!-- bench N -->`` markers in RESULTS.md (or append it)."""
    begin, end = f"<!-- bench {size} -->", f"<!-- /bench {size} -->"
    block = f"{begin}\n{text}{end}"
    current = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.exists() else ""
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(current):
        current = pattern.sub(lambda _: block, current)
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    RESULTS_MD.write_text(current, encoding="utf-8")
