"""The bad-input corpus: every malformed export ends in a clear one-line error naming the
file (and column or line), or in quarantined rows with the rule they broke - never a
traceback - and always rows read = rows loaded + rows quarantined.

Each case is a data folder built from the tiny tables of ``tests/conftest.py`` with one
file replaced, and its expected outcome.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from crmlib.errors import DataContractError
from crmlib.ingest import ingest_folder
from tests.conftest import TINY

CUSTOMERS = TINY["customers.csv"]
ORDER_HEAD = "order_id,customer_id,order_date,revenue\n"
TICKET_HEAD = "ticket_id,customer_id,created_at,resolved_at,satisfaction\n"


def orders(*rows: str, head: str = ORDER_HEAD) -> dict:
    return {"orders.csv": head + "".join(r + "\n" for r in rows)}


def error(pattern: str) -> tuple:
    return ("error", pattern)


def rules(table: str, quarantined: dict, loaded: int) -> tuple:
    return ("rules", table, quarantined, loaded)


CASES: dict[str, tuple[dict, tuple]] = {
    "empty file": ({"orders.csv": ""}, error(r"orders\.csv: the file is empty")),
    "header only": (orders(), rules("orders", {}, 0)),
    "semicolon delimited": (
        {"orders.csv": "order_id;customer_id;order_date;revenue\nA;C1;2025-01-09;10\n"},
        rules("orders", {}, 1),
    ),
    "tab delimited": (
        {"orders.csv": "order_id\tcustomer_id\torder_date\trevenue\nA\tC1\t2025-01-09\t10\n"},
        rules("orders", {}, 1),
    ),
    "utf-8 bom": (
        {"customers.csv": "\ufeff" + CUSTOMERS},
        rules("customers", {"duplicate_key": 1}, 3),
    ),
    "gb18030 decoded": (
        {"customers.csv": CUSTOMERS.encode("gb18030")},
        rules("customers", {"duplicate_key": 1}, 3),
    ),
    "undecodable bytes": (
        {"customers.csv": CUSTOMERS.encode() + b"C7,2025-01-01,caf\xe9\n"},
        error(r"customers\.csv: not UTF-8 text \(invalid byte at offset \d+\); save it as UTF-8"),
    ),
    "quoted commas and newlines": (
        orders(
            'A,C1,2025-01-09,"1,234.50"',
            "B,C1,2025-01-10,5",
            head="order_id,customer_id,order_date,revenue\n",
        )
        | {
            "orders.csv": ORDER_HEAD.replace("revenue", "revenue,category")
            + 'A,C1,2025-01-09,10,"toys, games\nand more"\nB,C1,2025-01-10,5,x\n'
        },
        rules("orders", {}, 2),
    ),
    "column names in other case, spacing and order": (
        {"orders.csv": " Revenue ,ORDER_ID,Order Date,customer-id\n10,A,2025-01-09,C1\n"},
        rules("orders", {}, 1),
    ),
    "missing required column": (
        {"orders.csv": "order_id,customer_id,order_date\nA,C1,2025-01-09\n"},
        error(r"orders\.csv: required column 'revenue' is missing"),
    ),
    "extra columns kept": (
        {"orders.csv": ORDER_HEAD.strip() + ",coupon\nA,C1,2025-01-09,10,XMAS\n"},
        rules("orders", {}, 1),
    ),
    "duplicate keys": (
        orders("A,C1,2025-01-09,10", "A,C2,2025-03-09,20"),
        rules("orders", {"duplicate_key": 1}, 1),
    ),
    "unknown customer": (
        orders("A,C404,2025-01-09,10"),
        rules("orders", {"unknown_customer": 1}, 0),
    ),
    "negative money": (orders("A,C1,2025-01-09,-10"), rules("orders", {"negative_value": 1}, 0)),
    "satisfaction 0": (
        {
            "communications.csv": "communication_id,customer_id,occurred_at,channel,satisfaction\n"
            "M1,C1,2025-01-09,email,0\nM2,C1,2025-01-09,email,5\n"
        },
        rules("communications", {"rating_out_of_range": 1}, 1),
    ),
    "satisfaction 6": (
        {"tickets.csv": TICKET_HEAD + "T1,C1,2025-01-09,,6\n"},
        rules("tickets", {"rating_out_of_range": 1}, 0),
    ),
    "dates in several formats": (
        orders(
            "A,C1,2025-01-09,1",
            "B,C1,2025/01/09,1",
            "C,C1,09.01.2025,1",
            "D,C1,2025年1月9日,1",
            "E,C1,2025-01-09 14:30,1",
            "F,C1,2025-01-09T14:30:00,1",
        ),
        rules("orders", {}, 6),
    ),
    "excel serial dates": (orders("A,C1,45666,1", "B,C1,45666.5,1"), rules("orders", {}, 2)),
    "impossible date": (orders("A,C1,2025-02-30,1"), rules("orders", {"unparseable": 1}, 0)),
    "time zones": (
        orders("A,C1,2025-01-09T10:00:00+08:00,1", "B,C1,2025-01-09T10:00:00Z,1"),
        rules("orders", {}, 2),
    ),
    "day-first slash dates": (
        orders("A,C1,13/01/2025,1", "B,C1,02/01/2025,1"),
        rules("orders", {}, 2),
    ),
    "ambiguous slash dates": (
        orders("A,C1,03/01/2025,1", "B,C1,02/01/2025,1"),
        rules("orders", {"ambiguous_date": 2}, 0),
    ),
    "resolved before created": (
        {"tickets.csv": TICKET_HEAD + "T1,C1,2025-01-09 10:00,2025-01-09 09:00,\n"},
        rules("tickets", {"time_before_created": 1}, 0),
    ),
    "thousands separators": (
        orders('A,C1,2025-01-09,"1,234.50"', 'B,C1,2025-01-09,"1.234,50"', "C,C1,2025-01-09,1 234"),
        rules("orders", {}, 3),
    ),
    "currency symbols": (
        orders(
            "A,C1,2025-01-09,€12.50",
            "B,C1,2025-01-09,$3",
            "C,C1,2025-01-09,¥100",
            "D,C1,2025-01-09,12 USD",
        ),
        rules("orders", {}, 4),
    ),
    "NULL and N/A in optional columns": (
        {
            "orders.csv": ORDER_HEAD.strip()
            + ",cost,channel\nA,C1,2025-01-09,1,NULL,N/A\nB,C1,2025-01-09,1,,\n"
        },
        rules("orders", {}, 2),
    ),
    "NULL in a required column": (
        orders("A,C1,2025-01-09,NULL", "B,N/A,2025-01-09,1"),
        rules("orders", {"missing_required": 2}, 0),
    ),
    "very long text": (
        {
            "orders.csv": ORDER_HEAD.strip()
            + ",category\nA,C1,2025-01-09,1,"
            + "x" * 3_000_000
            + "\n"
        },
        rules("orders", {}, 1),
    ),
    "unparseable number": (
        orders("A,C1,2025-01-09,twelve"),
        rules("orders", {"unparseable": 1}, 0),
    ),
    "flags in many spellings": (
        {
            "campaigns.csv": "campaign_id,channel,start_date,cost\nK1,email,2025-01-01,100\n",
            "campaign_contacts.csv": "campaign_id,customer_id,delivered,opened\n"
            "K1,C1,yes,TRUE\nK1,C2,1,n\nK1,C3,maybe,0\nK9,C1,1,1\n",
        },
        rules("campaign_contacts", {"unparseable": 1, "unknown_campaign": 1}, 2),
    ),
    "both csv and parquet": (
        {"orders.csv": ORDER_HEAD, "orders.parquet": "parquet"},
        error(r"both orders\.csv and orders\.parquet exist"),
    ),
    "ragged row": (
        {"orders.csv": ORDER_HEAD + "A,C1,2025-01-09,1\nB,C1,2025-01-09,1,extra,fields\n"},
        rules("orders", {"malformed_line": 1}, 1),
    ),
    "parquet with wrong types": (
        {
            "orders.parquet": pd.DataFrame(
                {
                    "order_id": [1, 2],
                    "customer_id": ["C1", "C1"],
                    "order_date": [20250109, 20250110],
                    "revenue": ["abc", "10"],
                }
            )
        },
        rules("orders", {"unparseable": 2}, 0),
    ),
    "parquet missing a required column": (
        {
            "orders.parquet": pd.DataFrame(
                {"order_id": ["A"], "customer_id": ["C1"], "revenue": [1.0]}
            )
        },
        error(r"orders\.parquet: required column 'order_date' is missing"),
    ),
}


def _build(folder: Path, files: dict) -> Path:
    folder.mkdir(parents=True)
    base = {"customers.csv": CUSTOMERS, "orders.csv": ORDER_HEAD}
    if "orders.parquet" in files and "orders.csv" not in files:
        base.pop("orders.csv")
    for name, content in {**base, **files}.items():
        path = folder / name
        if isinstance(content, pd.DataFrame):
            content.to_parquet(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif name.endswith(".parquet"):
            path.write_text(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def _records(path: Path) -> int:
    """Count a file's data records with the standard library (not DuckDB)."""
    if path.suffix == ".parquet":
        return len(pd.read_parquet(path))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    csv.field_size_limit(1 << 30)  # the very long text case
    header = text.splitlines()[0]
    delimiter = max((",", ";", "\t"), key=header.count)
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    return len(rows) - 1


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, tmp_path):
    files, expected = CASES[case]
    folder = _build(tmp_path / case.replace(" ", "_"), files)
    con = duckdb.connect()
    if expected[0] == "error":
        with pytest.raises(DataContractError, match=expected[1]) as err:
            ingest_folder(folder, con)
        message = str(err.value)
        assert "\n" not in message and str(folder) in message  # one line, names the file
        return
    _, table, quarantined, loaded = expected
    report = ingest_folder(folder, con)
    for r in report.tables.values():
        # rows read is checked against an independent count of the file's records
        assert r.rows_read == _records(Path(r.source)), r.table
        assert r.rows_read == r.rows_loaded + r.rows_quarantined, r.table
    got = report.tables[table]
    assert got.quarantined == quarantined
    assert got.rows_loaded == loaded


def test_corpus_has_at_least_30_cases():
    assert len(CASES) >= 30


def test_values_read_from_messy_formats(tmp_path):
    files = orders(
        'A,C1,45666.5,"1,234.50"',
        "B,C1,09.01.2025,€12.50",
        "C,C1,2025-01-09T10:00:00+08:00,1.234,50",
    )
    files["orders.csv"] = files["orders.csv"].replace("1.234,50", '"1.234,50"')
    con = duckdb.connect()
    ingest_folder(_build(tmp_path / "d", files), con)
    got = dict(
        (k, (str(d), str(r)))
        for k, d, r in con.execute("SELECT order_id, order_date, revenue FROM orders").fetchall()
    )
    # Excel serial 45666.5 = 2025-01-09 12:00 (day 0 = 1899-12-30); offsets keep wall time
    assert got == {
        "A": ("2025-01-09 12:00:00", "1234.50"),
        "B": ("2025-01-09 00:00:00", "12.50"),
        "C": ("2025-01-09 10:00:00", "1234.50"),
    }


def test_gb18030_text_is_decoded(tmp_path):
    con = duckdb.connect()
    ingest_folder(_build(tmp_path / "d", {"customers.csv": CUSTOMERS.encode("gb18030")}), con)
    names = {r[0] for r in con.execute("SELECT name FROM customers").fetchall()}
    assert "王伟" in names
