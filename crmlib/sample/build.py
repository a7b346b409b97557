"""Assembly and writing: :func:`generate` builds the tables and the planted truth,
:func:`write_sample` writes them as CSV or Parquet exports."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from crmlib.contract import TABLES, WARNINGS
from crmlib.errors import ParameterError
from crmlib.sample.arrays import _PAIRS, _fixed_width, _iso, _ln_quantile, _min_ln_quantile
from crmlib.sample.defects import _bad_emails, _key, _plant_bad_rows, _row
from crmlib.sample.tables import (
    _join,
    _make_campaigns,
    _make_communications,
    _make_customers,
    _make_orders,
    _make_tickets,
    _orders_table,
    _Span,
    _span,
)
from crmlib.sample.world import (
    CATEGORIES,
    DAY,
    SEGMENTS,
    SPEND_P,
    SPEND_Q,
    TICKET_PRIORITIES,
    SampleData,
    SampleTruth,
)


# ---------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------
def _segment_truth(cust: dict, orders: dict, span: _Span) -> pd.DataFrame:
    seg = cust["seg"]
    n = len(seg)
    counts = np.bincount(seg, minlength=len(SEGMENTS))
    done = orders["status"] == 0
    seg_o = seg[orders["who"]][done]
    n_orders = np.bincount(seg_o, minlength=len(SEGMENTS))
    revenue = np.bincount(seg_o, weights=orders["revenue"][done], minlength=len(SEGMENTS))
    rows = []
    for i, s in enumerate(SEGMENTS):
        top = np.argsort(-np.array(s.categories), kind="stable")[:3]
        lo = span.start + int(round(s.window[0] * span.days))
        hi = min(span.end, span.start + int(round(s.window[1] * span.days)) - 1)
        rows.append(
            {
                "name": s.name,
                "share": counts[i] / n,
                "n_customers": int(counts[i]),
                "target_share": s.share,
                "signup_from": str(lo),
                "signup_to": str(hi),
                "purchase_rate_per_week": s.rate_per_week,
                "rate_shape": s.rate_shape,
                "dropout_prob": s.dropout_prob,
                "dropout_concentration": s.dropout_concentration,
                "mean_spend": s.mean_spend,
                "spend_p": SPEND_P,
                "spend_q": SPEND_Q,
                "preferred_categories": ",".join(CATEGORIES[c] for c in top),
                "category_probs": ",".join(
                    f"{c}:{p:.2f}" for c, p in zip(CATEGORIES, s.categories, strict=True)
                ),
                "orders_per_customer": n_orders[i] / counts[i] if counts[i] else np.nan,
                "mean_order_value": revenue[i] / n_orders[i] if n_orders[i] else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _ticket_truth() -> pd.DataFrame:
    rows = []
    for prio, (share, f_med, f_sig, r_med, r_sig) in TICKET_PRIORITIES.items():
        f_mu, r_mu = math.log(f_med), math.log(r_med)
        rows.append(
            {
                "priority": prio,
                "share": share,
                "first_response_dist": "lognormal",
                "first_response_mu": f_mu,
                "first_response_sigma": f_sig,
                "resolution_dist": "lognormal",
                "resolution_mu": r_mu,
                "resolution_sigma": r_sig,
                "first_response_median_hours": _min_ln_quantile(f_mu, f_sig, r_mu, r_sig, 0.5),
                "first_response_p90_hours": _min_ln_quantile(f_mu, f_sig, r_mu, r_sig, 0.9),
                "resolution_median_hours": r_med,
                "resolution_p90_hours": _ln_quantile(r_mu, r_sig, 0.9),
            }
        )
    return pd.DataFrame(rows)


def _build(
    n_customers: int,
    seed: int,
    start: str,
    end: str,
    bad_rows: bool,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, pa.Table], SampleTruth]:
    say = progress or (lambda _msg: None)
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer):
        raise ParameterError(f"n_customers must be an integer, got {n_customers!r}")
    if n_customers < 100:
        raise ParameterError(f"n_customers must be at least 100, got {n_customers}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
    span = _span(start, end)
    # one independent stream per table; the planted problems have their own, so the clean
    # rows do not depend on bad_rows
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)]
    r_cust, r_orders, r_comms, r_camp, r_tickets, r_plant = streams
    plant = r_plant if bad_rows else None

    cust = _make_customers(r_cust, int(n_customers), span)
    say(f"customers: {n_customers:,} generated")
    orders = _make_orders(r_orders, cust, span)
    before_signup = np.array([], dtype=np.int64)
    if plant is not None:  # warnings: first orders dated 1-5 days before the signup
        ok = np.flatnonzero((orders["n_repeat"] > 0) & (cust["signup"] - span.t0 > 6 * DAY))
        before_signup = np.sort(plant.choice(ok, 2, replace=False))
        orders["secs"][before_signup] = cust["signup"][before_signup] - plant.integers(
            DAY, 5 * DAY, len(before_signup)
        )
    orders_table, order_perm = _orders_table(orders, cust)
    say(f"orders: {orders_table.num_rows:,} generated")
    comms = _make_communications(r_comms, cust, span)
    say(f"communications: {comms.num_rows:,} generated")
    camp = _make_campaigns(r_camp, cust, span, plant)
    say(f"campaigns: {camp['campaigns'].num_rows:,}, contacts: {camp['contacts'].num_rows:,}")
    tickets = _make_tickets(r_tickets, cust, orders, span)
    say(f"tickets: {tickets.num_rows:,} generated")

    email_rows = np.array([], dtype=np.int64)
    if plant is not None:
        email_rows, bad = _bad_emails(plant, cust)
        mask = np.zeros(cust["n"], dtype=bool)
        mask[email_rows] = True
        col = cust["table"].column("email").combine_chunks()
        col = pc.replace_with_mask(col, pa.array(mask), pa.array(bad, type=pa.string()))
        cust["table"] = cust["table"].set_column(
            cust["table"].schema.get_field_index("email"), "email", col
        )
    tables = {
        "customers": cust["table"],
        "orders": orders_table,
        "communications": comms,
        "campaigns": camp["campaigns"],
        "campaign_contacts": camp["contacts"],
        "tickets": tickets,
    }
    bad_records: list[dict] = []
    warn_records: list[dict] = []
    if plant is not None:
        shifts, bad_records = _plant_bad_rows(plant, tables, cust)
        inv = np.empty(len(order_perm), dtype=np.int64)
        inv[order_perm] = np.arange(len(order_perm))
        for table, clean_rows, warning, column in (
            ("orders", inv[before_signup], "order_before_signup", "order_date"),
            ("campaign_contacts", camp["warn_rows"], "conversion_without_click", "clicked"),
            ("customers", email_rows, "invalid_email", "email"),
        ):
            for pos in shifts[table](np.sort(clean_rows)):
                row = _row(tables[table], pos)
                warn_records.append(
                    {
                        "table": table,
                        "row": int(pos),
                        "key": _key(table, row),
                        "warning": warning,
                        "column": column,
                    }
                )
        assert all(w["warning"] in WARNINGS for w in warn_records)
        say(f"planted {len(bad_records)} bad rows and {len(warn_records)} warnings")

    ids = cust["table"].column("customer_id").to_pylist()
    names = np.array([s.name for s in SEGMENTS], dtype=object)
    truth = SampleTruth(
        customer_segment=pd.Series(
            names[cust["seg"]], index=pd.Index(ids, name="customer_id"), name="segment"
        ),
        segments=_segment_truth(cust, orders, span),
        campaign_lift=camp["truth"],
        ticket_times=_ticket_truth(),
        bad_rows=pd.DataFrame(
            bad_records, columns=["table", "row", "key", "rule", "column", "description"]
        ),
        warnings=pd.DataFrame(warn_records, columns=["table", "row", "key", "warning", "column"]),
    )
    return tables, truth


def _types(t: pa.DataType):
    if t == pa.int64():
        return pd.Int64Dtype()
    if t == pa.bool_():
        return pd.BooleanDtype()
    return None


def generate(
    n_customers: int = 3000,
    *,
    seed: int = 7,
    start: str = "2024-01-01",
    end: str = "2026-06-30",
    bad_rows: bool = True,
) -> SampleData:
    """Generate the six contract tables with planted truth.

    Parameters
    ----------
    n_customers : int, default=3000
        Number of (clean) customers; at least 100.
    seed : int, default=7
        Non-negative seed; each table draws from its own ``numpy.random.default_rng`` stream
        spawned from ``numpy.random.SeedSequence(seed)``. The same arguments give the same
        tables.
    start, end : str, default="2024-01-01", "2026-06-30"
        First and last day (ISO dates, inclusive) of the data; at least 180 days apart.
        No event lies outside.
    bad_rows : bool, default=True
        Insert the deliberately bad rows and plant the warnings listed in the module
        docstring. The clean rows are the same either way, apart from the few cells changed
        to plant the warnings.

    Returns
    -------
    SampleData
        ``tables`` (pandas, rows in file order) and ``truth``.

    Raises
    ------
    crmlib.errors.ParameterError
        For an invalid argument.
    """
    tables, truth = _build(n_customers, seed, start, end, bad_rows)
    frames = {
        name: t.to_pandas(
            types_mapper=_types, date_as_object=False, coerce_temporal_nanoseconds=True
        )
        for name, t in tables.items()
    }
    params = {
        "n_customers": n_customers,
        "seed": seed,
        "start": start,
        "end": end,
        "bad_rows": bad_rows,
    }
    return SampleData(tables=frames, truth=truth, params=params)


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------
_DATE_ONLY = {("campaigns", "start_date"), ("campaigns", "end_date")}


def _money_text(arr: pa.Array) -> pa.Array:
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    x = np.nan_to_num(arr.to_numpy(zero_copy_only=False))
    cents = np.round(np.abs(x) * 100.0).astype(np.int64)
    whole = pc.cast(pa.array(cents // 100), pa.string())
    frac = _fixed_width([_PAIRS[cents % 100]])
    sign = pc.if_else(pa.array(x < 0), pa.scalar("-"), pa.scalar(""))
    text = _join(sign, _join(whole, frac, sep="."))
    return pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string()))


def _as_text(name: str, table: pa.Table) -> pa.Table:
    """Every contract column as text, formatted as in the CSV files."""
    cols = {}
    for col in TABLES[name].columns:
        arr = table.column(col.name).combine_chunks()
        typ = arr.type
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            out = arr
        elif pa.types.is_timestamp(typ) or pa.types.is_date(typ):
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            raw = pc.fill_null(
                arr.cast(pa.int64() if pa.types.is_timestamp(typ) else pa.int32()), 0
            )
            secs = raw.to_numpy().astype(np.int64)
            if pa.types.is_date(typ):
                secs = secs * DAY
            with_time = pa.types.is_timestamp(typ) and (name, col.name) not in _DATE_ONLY
            out = _iso(secs, valid, with_time=with_time)
        elif col.kind == "money":
            out = _money_text(arr)
        elif pa.types.is_floating(typ):
            out = pc.cast(pc.cast(arr, pa.int64()), pa.string())
        elif pa.types.is_boolean(typ):
            out = pc.if_else(arr, pa.scalar("true"), pa.scalar("false"))
        else:
            out = pc.cast(arr, pa.string())
        cols[col.name] = out
    return pa.table(cols)


def write_sample(
    out: str | Path,
    n_customers: int = 3000,
    *,
    seed: int = 7,
    fmt: str = "csv",
    start: str = "2024-01-01",
    end: str = "2026-06-30",
    bad_rows: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Generate a sample (see :func:`generate`) and write it as a data-source folder.

    Parameters
    ----------
    out : str or Path
        Folder to write into (created when missing). A ``<table>.<other format>`` file
        left from an earlier run is removed, so the folder holds one format.
    n_customers, seed, start, end, bad_rows
        As in :func:`generate`.
    fmt : {"csv", "parquet"}, default="csv"
        ``csv``: UTF-8 without BOM, ``\\n`` line ends, ISO 8601 timestamps
        (``2026-03-01T14:05:00``; campaign dates and ``birth_date`` as ``2026-03-01``),
        money with two decimals, flags ``true``/``false``, empty field = missing.
        ``parquet``: typed columns (zstd); ``orders.order_date`` is ISO text.
    progress : callable, optional
        Called with a short message after each step.

    Returns
    -------
    dict of str to Path
        The written file of each table.

    Raises
    ------
    crmlib.errors.ParameterError
        For an invalid argument.
    """
    if fmt not in ("csv", "parquet"):
        raise ParameterError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    say = progress or (lambda _msg: None)
    tables, _truth = _build(n_customers, seed, start, end, bad_rows, say)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    other = "parquet" if fmt == "csv" else "csv"
    written = {}
    for name, table in tables.items():
        path = folder / f"{name}.{fmt}"
        tmp = folder / f".{name}.{fmt}.tmp"
        if fmt == "csv":
            text = _as_text(name, table)
            # quote nothing unless a value holds a comma, quote or line break
            needs = any(
                pc.any(pc.match_substring_regex(col, r'[",\r\n]')).as_py() for col in text.columns
            )
            options = pacsv.WriteOptions(
                include_header=False, quoting_style="needed" if needs else "none"
            )
            with open(tmp, "wb") as fh:
                fh.write((",".join(text.column_names) + "\n").encode())
                pacsv.write_csv(text, fh, write_options=options)
        else:
            pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
        stale = folder / f"{name}.{other}"
        if stale.exists():
            stale.unlink()
        written[name] = path
        say(f"wrote {path} ({table.num_rows:,} rows)")
    return written
