"""``crm-report``: generate sample data, validate data, render the reports.

Errors a user can fix (a missing file or column, a bad parameter) end in one line on
stderr and exit status 2, never a traceback; failed notebooks exit with status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from crmlib.errors import CrmError

__all__ = ["main"]


def _parse_param(text: str) -> tuple[str, object]:
    import ast

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise CrmError(f"-p {text!r} should look like NAME=VALUE")
    try:
        parsed: object = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return name.strip(), parsed


def _cmd_sample(args: argparse.Namespace) -> int:
    from crmlib.sample import write_sample

    started = time.perf_counter()
    paths = write_sample(
        args.out,
        args.customers,
        seed=args.seed,
        fmt=args.format,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    size = sum(p.stat().st_size for p in paths.values())
    print(
        f"wrote {len(paths)} tables to {args.out} ({size / 1e6:,.1f} MB) "
        f"in {time.perf_counter() - started:,.1f} s"
    )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from crmlib.warehouse import build_warehouse

    _, report = build_warehouse(args.data, force=True)
    df = report.to_frame()
    print(df.to_string(index=False))
    total = df[["rows_read", "rows_loaded", "rows_quarantined"]].sum()
    print(
        f"\n{int(total.rows_read):,} rows read = {int(total.rows_loaded):,} loaded "
        f"+ {int(total.rows_quarantined):,} quarantined"
    )
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from crmlib.report import render

    params = dict(_parse_param(p) for p in args.param or [])
    only = [n for chunk in args.only or [] for n in chunk.split(",") if n]
    result = render(
        args.data,
        as_of=args.as_of,
        out=args.out,
        only=only or None,
        jobs=args.jobs,
        params=params,
    )
    for r in result.failed:
        print(f"crm-report: {r.name} failed at {r.error}", file=sys.stderr)
    print(result.index)
    return 1 if result.failed else 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    import pandas as pd

    from crmlib.maintain import upsert_export

    counts = upsert_export(args.export, args.into)
    df = pd.DataFrame([vars(c) for c in counts])
    print(df.to_string(index=False))
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    from crmlib.maintain import delete_customers

    df = delete_customers(args.from_, args.customer or [], confirm=args.yes)
    print(df.to_string(index=False))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-report", description="Reproducible CRM analytics reports."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample", help="generate deterministic synthetic data")
    p.add_argument("--out", required=True, help="folder to write the tables into")
    p.add_argument("--customers", type=int, default=3000, help="number of customers")
    p.add_argument("--seed", type=int, default=7, help="random seed")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("validate", help="validate a data folder against the contract")
    p.add_argument("data", help="folder of CSV/Parquet files")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("ingest", help="validate an export and upsert it into a warehouse")
    p.add_argument("export", help="folder of CSV/Parquet files (a full or partial export)")
    p.add_argument("--into", required=True, help="maintained DuckDB warehouse file")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("delete", help="delete customers and all their rows (explicit only)")
    p.add_argument("--customer", action="append", metavar="ID", help="customer id (repeat)")
    p.add_argument("--from", dest="from_", required=True, help="maintained DuckDB warehouse")
    p.add_argument("--yes", action="store_true", help="confirm the deletion")
    p.set_defaults(func=_cmd_delete)

    p = sub.add_parser("render", help="render every report notebook into dated HTML")
    p.add_argument("--data", default="", help="data folder, .duckdb file or env var name")
    p.add_argument("--as-of", default=None, help="report date (default: latest in data)")
    p.add_argument("--out", default=None, help="output folder (default: reports/)")
    p.add_argument("--only", action="append", help="notebook names, comma-separated")
    p.add_argument("--jobs", type=int, default=2, help="notebooks rendered in parallel")
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE", help="notebook parameter"
    )
    p.set_defaults(func=_cmd_render)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except CrmError as exc:
        print(f"crm-report: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crm-report: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
