"""``crm-report``: generate sample data, validate data, render the reports.

Errors a user can fix (a missing file or column, a bad parameter) end in one line on
stderr and exit status 2, never a traceback; failed notebooks exit with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from crmlib import config
from crmlib.errors import CrmError, ParameterError, redact
from crmlib.report import DEFAULT_CELL_TIMEOUT

__all__ = ["main"]


def _split_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ParameterError(f"-p {text[:40]!r} should look like NAME=VALUE")
    return name.strip(), value


def _parse_params(texts: Sequence[str], only: Sequence[str] | None) -> dict[str, object]:
    """Parse ``-p NAME=VALUE`` texts against the types the selected notebooks declare."""
    from crmlib.parameters import parse_cli_value
    from crmlib.report import list_notebooks, notebook_parameters

    declared: dict[str, dict] = {}
    for book in list_notebooks(only or None):
        for name, spec in notebook_parameters(book).items():
            declared.setdefault(name, spec)
    params: dict[str, object] = {}
    for text in texts:
        name, value = _split_param(text)
        if name in ("data", "as_of"):
            raise ParameterError(f"pass {name} as its own option, not as -p {name}=...")
        if name not in declared:
            raise ParameterError(
                f"unknown parameter {name!r}; the notebooks declare {', '.join(sorted(declared))}"
            )
        params[name] = parse_cli_value(name, value, declared[name].get("inferred_type_name"))
    return params


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

    _, report = build_warehouse(args.data, force=True, encoding=args.encoding)
    df = report.to_frame()
    print(validation_text(df))
    total = df[["rows_read", "rows_loaded", "rows_quarantined"]].sum()
    print(
        f"\n{int(total.rows_read):,} rows read = {int(total.rows_loaded):,} loaded "
        f"+ {int(total.rows_quarantined):,} quarantined"
    )
    _print_alerts(report)
    return 0


#: Widest line the command line prints (a terminal, a CI log).
MAX_WIDTH = 100


def validation_text(df) -> str:
    """Return the ingestion report as lines of at most :data:`MAX_WIDTH` characters.

    One row of counts per table; under it, indented and wrapped, the rows quarantined by
    rule and the warnings (rules that flag rows without removing them).
    """
    import textwrap

    width = max(len("table"), *(len(str(t)) for t in df.table))
    lines = [f"{'table':<{width}}  {'read':>12}  {'loaded':>12}  {'quarantined':>12}"]
    for row in df.itertuples(index=False):
        lines.append(
            f"{row.table:<{width}}  {row.rows_read:>12,}  {row.rows_loaded:>12,}  "
            f"{row.rows_quarantined:>12,}"
        )
        for label, text in (("quarantined", row.quarantined_by_rule), ("warnings", row.warnings)):
            if text and text != "-":
                lines += textwrap.wrap(
                    f"{label}: {text}",
                    MAX_WIDTH,
                    initial_indent="    ",
                    subsequent_indent="      ",
                    break_on_hyphens=False,
                )
    return "\n".join(line[:MAX_WIDTH] for line in lines)


def _print_alerts(report) -> None:
    """Say loudly on stderr what the ingestion report flags (mass quarantine, look-alikes)."""
    for line in report.alerts():
        print(f"crm-report: WARNING: {line}", file=sys.stderr)


def _cmd_render(args: argparse.Namespace) -> int:
    from crmlib.report import render

    only = [n for chunk in args.only or [] for n in chunk.split(",") if n]
    params = _parse_params(args.param or [], only)
    if args.jobs < 1:
        raise ParameterError(f"--jobs {args.jobs}: use 1 or more")
    result = render(
        args.data,
        as_of=args.as_of,
        out=args.out,
        only=only or None,
        jobs=args.jobs,
        params=params,
        cell_timeout=args.cell_timeout or None,
        encoding=args.encoding,
    )
    for r in result.failed:
        print(f"crm-report: {r.name} failed at {r.error}", file=sys.stderr)
    print(result.index)
    return 1 if result.failed else 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    import pandas as pd

    from crmlib.engines import ENV_NAME, load_tables
    from crmlib.maintain import upsert_export

    if ENV_NAME.match(args.into) and not Path(args.into).exists():
        # an engine named by an environment variable: validated here, tables replaced there
        loaded = load_tables(args.export, args.into, encoding=args.encoding, progress=print)
        print(f"{sum(t.rows for t in loaded):,} rows in {len(loaded)} tables written")
        return 0
    counts = upsert_export(args.export, args.into, encoding=args.encoding)
    df = pd.DataFrame([vars(c) for c in counts])
    print(df.to_string(index=False))
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    from crmlib.maintain import delete_customers, reports_mentioning

    df = delete_customers(args.from_, args.customer or [], confirm=args.yes)
    print(df.to_string(index=False))
    left = reports_mentioning(args.reports, args.customer or []) if args.reports else []
    if left:
        print(
            f"\n{len(left)} report file(s) under {args.reports} still mention the customer(s); "
            "they are records of past runs and are not changed: remove them, or re-render "
            "those dates, if the erasure must reach them:"
        )
        for path in left:
            print(f"  {path}")
    return 0


def _encoding_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--encoding",
        default=None,
        help="text encoding of CSV files that are not UTF-8 (e.g. cp1252, latin-1, gb18030); "
        "default: UTF-8, or the encoding detected and reported",
    )


def declared_parameters() -> list[dict]:
    """Return the parameters the report notebooks declare, for ``render --help``.

    Read from each notebook's ``parameters`` cell (name, type, default and the comment
    after it) without starting a kernel or importing papermill, so the help is instant.

    Returns
    -------
    list of dict
        ``name``, ``type``, ``default`` (the literal as written), ``help`` and ``notebooks``
        (the notebooks declaring it), in first-declared order.
    """
    import ast
    import json

    from crmlib.report.run import list_notebooks

    found: dict[str, dict] = {}
    for path in list_notebooks():
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        source = next(
            (
                "".join(c["source"])
                for c in cells
                if "parameters" in c.get("metadata", {}).get("tags", [])
            ),
            "",
        )
        lines = source.splitlines()
        for node in ast.parse(source).body:
            if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
                continue
            tail = lines[node.end_lineno - 1]
            comment = tail.split("#", 1)[1].strip() if "#" in tail else ""
            default = " ".join(ast.get_source_segment(source, node.value).split())
            entry = found.setdefault(
                node.target.id,
                {
                    "name": node.target.id,
                    "type": ast.unparse(node.annotation),
                    "default": default,
                    "help": comment,
                    "notebooks": [],
                },
            )
            entry["notebooks"].append(path.stem)
    return list(found.values())


def _render_epilog() -> str:
    """The notebooks, their parameters with types and defaults, and examples."""
    import textwrap

    from crmlib.report.run import list_notebooks

    books = [p.stem for p in list_notebooks()]
    out = ["notebooks (--only NAME): " + ", ".join(books), ""]
    out.append("parameters (-p NAME=VALUE; type, default; the notebooks that take it):")
    for p in declared_parameters():
        if p["name"] in ("data", "as_of"):  # options of their own
            continue
        where = "all" if len(p["notebooks"]) == len(books) else ", ".join(p["notebooks"])
        default = p["default"] if len(p["default"]) <= 40 else p["default"][:37] + "..."
        head = f"  {p['name']} ({p['type']}, default {default}; {where})"
        out.append(head[:MAX_WIDTH])
        out += textwrap.wrap(
            p["help"], MAX_WIDTH, initial_indent="      ", subsequent_indent="      "
        )
    out += [
        "",
        "examples:",
        "  crm-report render --data data/sample",
        "  crm-report render --data exports/ --as-of 2026-06-30 -p lookback_days=30",
        "  crm-report render --data exports/ --only 03_cmm -p gross_margin=0.35",
        "  crm-report render --data CRM_DB_URL --jobs 1   (CRM_DB_URL: env var holding the URL)",
    ]
    return "\n".join(out)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("crm-reports")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-report", description="Reproducible CRM analytics reports."
    )
    parser.add_argument("--version", action="version", version=f"crm-report {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample", help="generate deterministic synthetic data")
    p.add_argument("--out", required=True, help="folder to write the tables into")
    p.add_argument("--customers", type=int, default=3000, help="number of customers")
    p.add_argument("--seed", type=int, default=7, help="random seed")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser(
        "validate",
        help="validate a data folder against the contract and rebuild its cached warehouse",
        description=(
            "Validate every file of a data folder against the contract and load it into the "
            "folder's cached warehouse, rebuilt every time (minutes at 10M customers). A "
            "render validates only when the files changed since the last build."
        ),
    )
    p.add_argument("data", help="folder of CSV/Parquet files")
    _encoding_option(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("ingest", help="validate an export and upsert it into a warehouse")
    p.add_argument("export", help="folder of CSV/Parquet files (a full or partial export)")
    p.add_argument(
        "--into",
        required=True,
        help="maintained DuckDB warehouse file, or the NAME of an environment variable "
        "holding a Spark Connect (sc://) or PostgreSQL URL: the validated tables replace "
        "the engine's (the quarantine stays local)",
    )
    _encoding_option(p)
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("delete", help="delete customers and all their rows (explicit only)")
    p.add_argument("--customer", action="append", metavar="ID", help="customer id (repeat)")
    p.add_argument("--from", dest="from_", required=True, help="maintained DuckDB warehouse")
    p.add_argument("--yes", action="store_true", help="confirm the deletion")
    p.add_argument(
        "--reports",
        default=str(config.REPORTS_DIR),
        help="report folder to search for files still mentioning the customer (listed, "
        "not changed); empty to skip",
    )
    p.set_defaults(func=_cmd_delete)

    p = sub.add_parser(
        "render",
        help="render every report notebook into dated HTML",
        description="Render the report notebooks into reports/<as_of>/ and reports/index.html.",
        epilog=_render_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", default="", help="data folder, .duckdb file or env var name")
    p.add_argument("--as-of", default=None, help="report date (default: latest in data)")
    p.add_argument("--out", default=None, help="output folder (default: reports/)")
    p.add_argument("--only", action="append", help="notebook names, comma-separated")
    p.add_argument("--jobs", type=int, default=2, help="notebooks rendered in parallel")
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE", help="notebook parameter"
    )
    p.add_argument(
        "--cell-timeout",
        type=int,
        default=DEFAULT_CELL_TIMEOUT,
        metavar="SECONDS",
        help=f"a notebook fails when one cell runs longer (default {DEFAULT_CELL_TIMEOUT}; "
        "0 for no limit)",
    )
    _encoding_option(p)
    p.set_defaults(func=_cmd_render)
    return parser


def _skip_iri_grammars() -> None:
    """Keep the optional ``rfc3987_syntax`` out of this process.

    nbformat (read and written by every render) imports jsonschema, whose IRI format
    checks import ``rfc3987_syntax`` when it is installed (the Jupyter packages pull it in; a
    fresh ``make setup`` environment has it): it compiles 39 grammars at import, 1.8 s of
    every ``crm-report`` command before the first kernel starts
    (python-jsonschema/jsonschema#1428). Nothing here checks IRI
    formats; jsonschema then goes without them. Only the command's own process: a library
    import does not change what an analyst's process can import.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Every error ends in one line on stderr, never a traceback: errors a user can fix
    (:class:`~crmlib.errors.CrmError`, a file that cannot be read or written) exit 2; an
    unexpected failure exits 1 and names its type (``CRM_DEBUG=1`` shows the traceback).
    Every line is redacted (:func:`crmlib.errors.redact`).
    """
    args = _parser().parse_args(argv)
    _skip_iri_grammars()
    try:
        return args.func(args)
    except CrmError as exc:
        _error(str(exc))
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _error(f"cannot use{where}: {exc.strerror or type(exc).__name__}")
        return 2
    except KeyboardInterrupt:
        print("crm-report: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("CRM_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        _error(
            f"unexpected {type(exc).__name__}: {first} (run again with CRM_DEBUG=1 "
            "for the traceback, and report it)"
        )
        return 1


def _error(text: str) -> None:
    line = " ".join(redact(text).split())
    print(f"crm-report: error: {line}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
