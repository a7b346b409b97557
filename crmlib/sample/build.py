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
from crmlib.sample.campaigns import _campaign_cost, _make_campaigns
from crmlib.sample.defects import _bad_emails, _key, _plant_bad_rows, _row
from crmlib.sample.tables import (
    _Ids,
    _join,
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

#: Customers per block of a streamed sample (:func:`write_sample`): a sample of at most this
#: many is one block, the same as :func:`generate`; a larger one is written block by block,
#: so generation holds one block (about 3.3 GB) in memory whatever the size.
BLOCK_CUSTOMERS = 1_000_000


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
    *,
    block: int = 0,
    ids: _Ids | None = None,
    design: dict | None = None,
) -> tuple[dict[str, pa.Table], SampleTruth | None, dict]:
    """One block of customers and everything they did (the whole sample when ``block`` is 0
    and no ``design`` is given); returns the tables, the planted truth (first block only)
    and the campaign design with each campaign's contact count."""
    say = progress or (lambda _msg: None)
    _check_size_and_seed(n_customers, seed)
    ids = ids or _Ids()
    span = _span(start, end)
    # one independent stream per table; the planted problems have their own, so the clean
    # rows do not depend on bad_rows
    # block b > 0 of a streamed sample draws from child 5 + b of SeedSequence(seed): the
    # children after the six the first block spawns
    root = np.random.SeedSequence(int(seed), spawn_key=(5 + block,) if block else ())
    streams = [np.random.default_rng(s) for s in root.spawn(6)]
    r_cust, r_orders, r_comms, r_camp, r_tickets, r_plant = streams
    plant = r_plant if bad_rows and block == 0 else None

    cust = _make_customers(r_cust, int(n_customers), span, ids)
    say(f"customers: {n_customers:,} generated")
    orders = _make_orders(r_orders, cust, span)
    before_signup = np.array([], dtype=np.int64)
    if plant is not None:  # warnings: first orders dated 1-5 days before the signup
        ok = np.flatnonzero((orders["n_repeat"] > 0) & (cust["signup"] - span.t0 > 6 * DAY))
        before_signup = np.sort(plant.choice(ok, 2, replace=False))
        orders["secs"][before_signup] = cust["signup"][before_signup] - plant.integers(
            DAY, 5 * DAY, len(before_signup)
        )
    orders_table, order_perm = _orders_table(orders, cust, ids)
    say(f"orders: {orders_table.num_rows:,} generated")
    comms = _make_communications(r_comms, cust, span, ids)
    say(f"communications: {comms.num_rows:,} generated")
    camp = _make_campaigns(r_camp, cust, span, plant, design)
    say(f"campaign contacts: {camp['contacts'].num_rows:,} generated")
    tickets = _make_tickets(r_tickets, cust, orders, span, ids)
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
        "campaigns": camp.get("campaigns"),
        "campaign_contacts": camp["contacts"],
        "tickets": tickets,
    }
    extra = {"design": design or camp["design"], "n_contacts": camp["n_contacts"]}
    if design is not None:  # a later block: its campaigns are the first block's
        del tables["campaigns"]
        return tables, None, extra
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
    return tables, truth, extra


def _check_size_and_seed(n_customers: int, seed: int) -> None:
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer):
        raise ParameterError(f"n_customers must be an integer, got {n_customers!r}")
    if n_customers < 100:
        raise ParameterError(f"n_customers must be at least 100, got {n_customers}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")


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
    tables, truth, _extra = _build(n_customers, seed, start, end, bad_rows)
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

    Notes
    -----
    Up to :data:`BLOCK_CUSTOMERS` customers, the files hold exactly :func:`generate`'s
    tables. A larger sample is generated and appended block by block (sizes from
    :func:`block_sizes`), so memory is bounded by one block: block ``b`` is a population
    of its own over the same time span, drawn from child ``5 + b`` of
    ``SeedSequence(seed)``; its ids carry on from the previous block's (customers, orders,
    communications and tickets are in signup or time order within each block); the
    campaigns are designed once, in the first block, and every block's customers are
    contacted at the same share of each campaign's target pool, with each campaign's cost
    counting all its contacts. The planted bad rows and warnings are in the first block.

    Raises
    ------
    crmlib.errors.ParameterError
        For an invalid argument.
    """
    if fmt not in ("csv", "parquet"):
        raise ParameterError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    say = progress or (lambda _msg: None)
    _check_size_and_seed(n_customers, seed)
    _span(start, end)
    folder = Path(out)
    sizes = block_sizes(n_customers)
    sinks: dict[str, _Sink] = {}
    campaigns, n_contacts, design = None, None, None
    ids = _Ids()
    if len(sizes) > 1:  # widths for the whole file; the counts per customer are bounded
        total = int(n_customers)
        ids = _Ids(
            width={
                "C": max(7, len(str(total + 1))),
                "O": max(8, len(str(30 * total))),
                "M": max(8, len(str(15 * total))),
                "T": max(7, len(str(5 * total))),
            }
        )
    try:
        for block, size in enumerate(sizes):
            if len(sizes) > 1:
                say(f"block {block + 1}/{len(sizes)}: {size:,} customers")
            tables, _truth, extra = _build(
                size, seed, start, end, bad_rows, say, block=block, ids=ids, design=design
            )
            if block == 0:
                campaigns, design = tables.pop("campaigns"), extra["design"]
                n_contacts = extra["n_contacts"]
            else:
                n_contacts = n_contacts + extra["n_contacts"]
            for name, table in tables.items():
                if name not in sinks:
                    sinks[name] = _Sink(folder, name, fmt)
                sinks[name].write(table)
            # later blocks number on, after 10 numbers kept for the first block's planted rows
            rows = {"C": size, "O": tables["orders"].num_rows}
            rows |= {"M": tables["communications"].num_rows, "T": tables["tickets"].num_rows}
            start_at = {p: ids.start.get(p, 0) + r + 10 for p, r in rows.items()}
            ids = _Ids(start=start_at, width=ids.width)
            del tables
        if len(sizes) > 1:  # every block's contacts are in the campaigns' costs
            cost = _campaign_cost(
                design["cost_draw"], design["per_contact"], n_contacts, design["zero_cost"]
            )
            index = campaigns.schema.get_field_index("cost")
            campaigns = campaigns.set_column(index, "cost", pa.array(cost, type=pa.float64()))
        sinks["campaigns"] = _Sink(folder, "campaigns", fmt)
        sinks["campaigns"].write(campaigns)
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise
    written = {}
    for name in TABLES:
        written[name] = sinks[name].close()
        say(f"wrote {written[name]} ({sinks[name].rows:,} rows)")
    return written


def block_sizes(n_customers: int) -> list[int]:
    """Customers per block of a streamed sample: one block up to :data:`BLOCK_CUSTOMERS`,
    otherwise the fewest blocks of at most that many, as equal as possible."""
    k = max(1, math.ceil(int(n_customers) / BLOCK_CUSTOMERS))
    return [n_customers // k + (i < n_customers % k) for i in range(k)]


class _Sink:
    """One table's file, written block by block to a temporary name and renamed at the end."""

    def __init__(self, folder: Path, name: str, fmt: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.name, self.fmt, self.rows = name, fmt, 0
        self.path = folder / f"{name}.{fmt}"
        self.stale = folder / f"{name}.{'parquet' if fmt == 'csv' else 'csv'}"
        self.tmp = folder / f".{name}.{fmt}.tmp"
        self.schema: pa.Schema | None = None
        self.fh = None

    def write(self, table: pa.Table) -> None:
        if self.schema is None:
            self.schema = table.schema
            if self.fmt == "csv":
                self.fh = open(self.tmp, "wb")
                self.fh.write((",".join(table.column_names) + "\n").encode())
            else:
                self.fh = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        table = table.cast(self.schema)
        self.rows += table.num_rows
        if self.fmt == "parquet":
            self.fh.write_table(table)
            return
        text = _as_text(self.name, table)
        # quote nothing unless a value holds a comma, quote or line break
        needs = any(
            pc.any(pc.match_substring_regex(col, r'[",\r\n]')).as_py() for col in text.columns
        )
        options = pacsv.WriteOptions(
            include_header=False, quoting_style="needed" if needs else "none"
        )
        pacsv.write_csv(text, self.fh, write_options=options)

    def close(self) -> Path:
        self.fh.close()
        os.replace(self.tmp, self.path)
        if self.stale.exists():
            self.stale.unlink()
        return self.path

    def abort(self) -> None:
        if self.fh is not None:
            self.fh.close()
        self.tmp.unlink(missing_ok=True)
