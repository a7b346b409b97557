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
    "windows-1252 detected": (
        {
            "customers.csv": CUSTOMERS.encode()
            + b"C7,2025-01-01,Caf\xe9 M\xfcller"
            + b"," * 7
            + b"\n"
        },
        rules("customers", {"duplicate_key": 1}, 4),
    ),
    "undecodable bytes": (
        {"customers.csv": CUSTOMERS.encode() + b"C7,2025-01-01,\x81\x8d\x8f\x90\x9d\xff\xfe\n"},
        error(r"customers\.csv: not UTF-8 text \(invalid byte at offset \d+\).*--encoding"),
    ),
    # a header ending in a delimiter names a column the rows do not have
    "trailing comma in the header": (
        orders("A,C1,2025-01-09,10", "B,C1,2025-01-09,11", head=ORDER_HEAD.rstrip() + ",\n"),
        rules("orders", {}, 2),
    ),
    "trailing comma in header and rows": (
        orders("A,C1,2025-01-09,10,", "B,C1,2025-01-09,11,", head=ORDER_HEAD.rstrip() + ",\n"),
        rules("orders", {}, 2),
    ),
    "an export's own RowID column": (
        orders("1,A,C1,2025-01-09,10", "2,B,C1,2025-01-09,11", head="RowID," + ORDER_HEAD),
        rules("orders", {}, 2),
    ),
    "implausible dates": (
        orders(
            "A,C1,infinity,10",
            "B,C1,294246-01-01,10",
            "C,C1,2999-01-01,10",
            "D,C1,1899-12-31,10",
            "E,C1,2025-01-09,10",
        ),
        rules("orders", {"implausible_date": 4}, 1),
    ),
    "decimal commas with an ambiguous value": (
        orders('A,C1,2025-01-09,"12,50"', 'B,C1,2025-01-09,"0,99"', 'C,C1,2025-01-09,"1,500"'),
        rules("orders", {"ambiguous_number": 1}, 2),
    ),
    "accounting negatives": (
        orders("A,C1,2025-01-09,(25.00)", "B,C1,2025-01-09,25.00-", "C,C1,2025-01-09,25.00"),
        rules("orders", {"negative_value": 2}, 1),
    ),
    "look-alike customer keys": (
        orders(
            "A, C1 ,2025-01-09,1",
            "B,C1\u200b,2025-01-09,1",
            "C,\uff23\uff11,2025-01-09,1",
            "D,c1,2025-01-09,1",
        ),
        rules("orders", {"unknown_customer": 1}, 3),
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
    for encoding in ("utf-8-sig", "gb18030", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
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
        "D,C1,2025-01-09T02:00:00+08:00,1",
    )
    files["orders.csv"] = files["orders.csv"].replace("1.234,50", '"1.234,50"')
    con = duckdb.connect()
    ingest_folder(_build(tmp_path / "d", files), con)
    got = dict(
        (k, (str(d), str(r)))
        for k, d, r in con.execute("SELECT order_id, order_date, revenue FROM orders").fetchall()
    )
    # Excel serial 45666.5 = 2025-01-09 12:00 (day 0 = 1899-12-30); a time with an offset is
    # the instant in UTC (10:00 at +08:00 is 02:00 UTC; 02:00 at +08:00 is the day before)
    assert got == {
        "A": ("2025-01-09 12:00:00", "1234.50"),
        "B": ("2025-01-09 00:00:00", "12.50"),
        "C": ("2025-01-09 02:00:00", "1234.50"),
        "D": ("2025-01-08 18:00:00", "1.00"),
    }


def test_gb18030_text_is_decoded(tmp_path):
    con = duckdb.connect()
    ingest_folder(_build(tmp_path / "d", {"customers.csv": CUSTOMERS.encode("gb18030")}), con)
    names = {r[0] for r in con.execute("SELECT name FROM customers").fetchall()}
    assert "王伟" in names


def _load(tmp_path: Path, files: dict, **kwargs) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ingest_folder(_build(tmp_path / "d", files), con, **kwargs)
    return con


def test_money_convention_is_decided_per_column(tmp_path):
    # a column of decimal commas: "1.234,50" is 1234.50 and "1,500" is not 1500 (old reading)
    con = _load(
        tmp_path,
        orders(
            'A,C1,2025-01-09,"12,50"',
            'B,C1,2025-01-09,"1.234,50"',
            'C,C1,2025-01-09,"1,500"',
            'D,C1,2025-01-09,"1.500"',
        ),
    )
    got = dict(con.execute("SELECT order_id, CAST(revenue AS VARCHAR) FROM orders").fetchall())
    # D: with a decimal comma proven, "." can only group thousands
    assert got == {"A": "12.50", "B": "1234.50", "D": "1500.00"}
    rule = con.execute("SELECT _rule FROM _quarantine_orders WHERE order_id = 'C'").fetchone()
    assert rule == ("ambiguous_number",)
    # a column of decimal points reads "1,500" as 1500 and quarantines "1.500"
    con = _load(
        tmp_path / "dots",
        orders("A,C1,2025-01-09,12.50", 'B,C1,2025-01-09,"1,500"', "C,C1,2025-01-09,1.500"),
    )
    got = dict(con.execute("SELECT order_id, CAST(revenue AS VARCHAR) FROM orders").fetchall())
    assert got == {"A": "12.50", "B": "1500.00"}


def test_accounting_negatives_are_negative(tmp_path):
    con = _load(
        tmp_path,
        {
            **orders(
                "A,C1,2025-01-09,10,(4.00)",
                "B,C1,2025-01-09,10,4.00-",
                head=ORDER_HEAD.rstrip() + ",cost\n",
            ),
        },
    )
    rows = con.execute("SELECT order_id, _rule, _column FROM _quarantine_orders").fetchall()
    assert sorted(rows) == [("A", "negative_value", "cost"), ("B", "negative_value", "cost")]


def test_windows_1252_is_detected_and_reported(tmp_path):
    text = "customer_id,signup_date,name\nC1,2025-01-01,J\u00fcrgen M\u00fcller\n"
    con = duckdb.connect()
    report = ingest_folder(_build(tmp_path / "d", {"customers.csv": text.encode("cp1252")}), con)
    assert con.execute("SELECT name FROM customers").fetchone() == ("J\u00fcrgen M\u00fcller",)
    assert report.tables["customers"].encoding == "cp1252"
    assert any("read as cp1252" in a and "--encoding" in a for a in report.alerts())


def test_encoding_option_is_used_for_files_that_are_not_utf8(tmp_path):
    text = "customer_id,signup_date,name\nC1,2025-01-01,\u0141ukasz\n"
    con = duckdb.connect()
    folder = _build(tmp_path / "d", {"customers.csv": text.encode("cp1250")})
    report = ingest_folder(folder, con, encoding="cp1250")
    assert con.execute("SELECT name FROM customers").fetchone() == ("\u0141ukasz",)
    assert report.tables["customers"].encoding == "cp1250"


def test_lookalike_keys_are_normalised_and_counted(tmp_path):
    con = duckdb.connect()
    report = ingest_folder(
        _build(
            tmp_path / "d",
            orders(
                "A, C1 ,2025-01-09,1",
                "B,C1\u200b,2025-01-09,1",
                "C,\uff23\uff11,2025-01-09,1",
                "D,c1,2025-01-09,1",
                "E,C1,2025-01-09,1",
            ),
        ),
        con,
    )
    got = con.execute("SELECT order_id, customer_id FROM orders ORDER BY 1").fetchall()
    assert got == [("A", "C1"), ("B", "C1"), ("C", "C1"), ("E", "C1")]
    assert report.tables["orders"].warnings["lookalike_key"] == 3
    # letter case is kept apart (ids may be case-sensitive): c1 is not C1
    assert report.tables["orders"].quarantined == {"unknown_customer": 1}


def test_decomposed_accents_are_one_key(tmp_path):
    customers = "customer_id,signup_date\nJos\u00e9,2025-01-01\nJose\u0301,2025-01-02\n"
    con = duckdb.connect()
    report = ingest_folder(_build(tmp_path / "d", {"customers.csv": customers}), con)
    assert report.tables["customers"].quarantined == {"duplicate_key": 1}
    assert report.tables["customers"].warnings["lookalike_key"] == 1


def test_mass_quarantine_is_an_alert(tmp_path):
    rows = [f"O{i},C9,2025-01-09,1" for i in range(30)]
    con = duckdb.connect()
    report = ingest_folder(_build(tmp_path / "d", orders(*rows)), con)
    alerts = report.alerts()
    assert any("30 of 30 rows (100%) quarantined by unknown_customer" in a for a in alerts)


def test_parquet_float_ids_match_integer_ids(tmp_path):
    customers = pd.DataFrame({"customer_id": [1.0, 2.0], "signup_date": ["2025-01-01"] * 2})
    order_rows = pd.DataFrame(
        {
            "order_id": [10, 11],
            "customer_id": [1, 2],
            "order_date": ["2025-01-09"] * 2,
            "revenue": [1.0, 2.5],
        }
    )
    folder = tmp_path / "d"
    folder.mkdir()
    customers.to_parquet(folder / "customers.parquet")
    order_rows.to_parquet(folder / "orders.parquet")
    con = duckdb.connect()
    report = ingest_folder(folder, con)
    assert report.tables["orders"].rows_loaded == 2
    assert con.execute("SELECT customer_id FROM customers ORDER BY 1").fetchall() == [
        ("1",),
        ("2",),
    ]


def test_folder_names_are_not_glob_patterns(tmp_path):
    # "export[1]" must not read the sibling "export1"
    real = _build(tmp_path / "export[1]", orders("A,C1,2025-01-09,10"))
    _build(tmp_path / "export1", orders("X,C1,2025-01-09,10", "Y,C1,2025-01-09,10"))
    con = duckdb.connect()
    report = ingest_folder(real, con)
    assert report.tables["orders"].rows_read == 1
    assert con.execute("SELECT order_id FROM orders").fetchall() == [("A",)]


def test_quarantine_rows_name_their_file_and_row_inside_a_transaction(tmp_path):
    con = duckdb.connect()
    con.execute("BEGIN TRANSACTION")
    ingest_folder(_build(tmp_path / "d", orders("A,C1,2025-01-09,10", "B,C9,2025-01-09,1")), con)
    row = con.execute("SELECT _file, _row FROM _quarantine_orders").fetchone()
    assert row == ("orders.csv", 2)


def test_errors_never_quote_file_content(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "orders.csv").write_text(ORDER_HEAD)
    secret = "root:x:0:0:secret-line:/root:/bin/bash"
    target = tmp_path / "passwd"
    target.write_text(secret + "\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    (folder / "customers.csv").symlink_to(target)
    with pytest.raises(DataContractError) as err:
        ingest_folder(folder, duckdb.connect())
    message = str(err.value)
    assert "customers.csv" in message and "\n" not in message
    for part in ("x:0:0", "secret-line", "/bin/bash", "daemon"):
        assert part not in message
