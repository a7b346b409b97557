from pathlib import Path

import duckdb
import pytest

from crmlib.errors import DataContractError
from crmlib.ingest import ingest_folder, read_ingest_report
from tests.conftest import TINY, write_tables


def _ingest(folder: Path):
    con = duckdb.connect()
    return con, ingest_folder(folder, con)


def test_tiny_counts_by_hand(tiny_data):
    con, report = _ingest(tiny_data)
    c, o = report.tables["customers"], report.tables["orders"]
    assert (c.rows_read, c.rows_loaded, c.rows_quarantined) == (4, 3, 1)
    assert c.quarantined == {"duplicate_key": 1}
    assert c.warnings == {"invalid_email": 1}
    assert (o.rows_read, o.rows_loaded, o.rows_quarantined) == (9, 5, 4)
    assert o.quarantined == {
        "duplicate_key": 1,
        "negative_value": 1,
        "unknown_customer": 1,
        "unparseable": 1,
    }
    assert o.warnings == {"order_before_signup": 1}


def test_rows_read_equal_loaded_plus_quarantined(tiny_data):
    _, report = _ingest(tiny_data)
    for r in report.tables.values():
        assert r.rows_read == r.rows_loaded + r.rows_quarantined


def test_quarantine_names_row_rule_and_column(tiny_data):
    con, _ = _ingest(tiny_data)
    rows = con.execute(
        "SELECT _row, _rule, _column, order_id FROM _quarantine_orders ORDER BY _row"
    ).fetchall()
    assert rows == [
        (5, "unknown_customer", "customer_id", "O5"),
        (6, "unparseable", "order_date", "O6"),
        (7, "duplicate_key", "order_id", "O1"),
        (8, "negative_value", "revenue", "O7"),
    ]


def test_latest_updated_at_wins_for_customers(tiny_data):
    con, _ = _ingest(tiny_data)
    assert con.execute("SELECT name FROM customers WHERE customer_id = 'C2'").fetchall() == [
        ("王伟",)
    ]
    assert con.execute("SELECT _row FROM _quarantine_customers").fetchall() == [(4,)]


def test_types_follow_the_contract(tiny_data):
    con, _ = _ingest(tiny_data)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE orders)").fetchall())
    assert types["order_date"] == "TIMESTAMP"
    assert types["revenue"] == "DECIMAL(18,2)"
    assert types["order_id"] == "VARCHAR"


def test_first_loaded_order_is_exact_money(tiny_data):
    con, _ = _ingest(tiny_data)
    total = con.execute("SELECT sum(revenue) FROM orders").fetchone()[0]
    # O1 100.00 + O2 50.50 + O3 200 + O4 80 + O8 10 (cancelled rows are loaded)
    assert str(total) == "440.50"


def test_no_table_is_required_of_every_source(tmp_path):
    # a support team's export: tickets only; the customer key cannot be checked, and says so
    tickets = "ticket_id,customer_id,created_at\nT1,C1,2025-01-05\nT2,C9,2025-01-06\n"
    con, report = _ingest(write_tables(tmp_path / "d", {"tickets.csv": tickets}))
    assert con.execute("SELECT count(*) FROM tickets").fetchone()[0] == 2
    assert report.tables["tickets"].warnings == {"unchecked_reference": 2}
    assert any("not checked" in a and "customers" in a for a in report.alerts())


def test_orders_without_customers_load_with_their_key_unchecked(tmp_path):
    # the order-before-signup warning needs the customers: without them it is not counted
    orders = "order_id,customer_id,order_date,revenue\nO1,C1,2024-01-01,10\n"
    con, report = _ingest(write_tables(tmp_path / "d", {"orders.csv": orders}))
    assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == 1
    assert report.tables["orders"].warnings == {"unchecked_reference": 1}


def test_a_folder_without_any_table_names_the_files_expected(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(DataContractError, match=r"no table file found; expected one or more"):
        _ingest(folder)


def test_missing_required_column_names_file_and_column(tmp_path):
    text = TINY["orders.csv"].replace("revenue", "amount")
    folder = write_tables(tmp_path / "d", {**TINY, "orders.csv": text})
    with pytest.raises(DataContractError, match=r"orders\.csv: required column 'revenue'"):
        _ingest(folder)


def test_column_names_match_case_and_spaces(tmp_path):
    text = TINY["orders.csv"].replace("order_id,customer_id", " Order ID , Customer_ID")
    folder = write_tables(tmp_path / "d", {**TINY, "orders.csv": text})
    _, report = _ingest(folder)
    assert report.tables["orders"].rows_loaded == 5


def test_rating_and_time_rules(tmp_path):
    tickets = """\
ticket_id,customer_id,created_at,resolved_at,satisfaction,reopens
T1,C1,2025-03-01 10:00,2025-03-01 12:00,5,0
T2,C1,2025-03-01 10:00,2025-03-01 09:00,4,0
T3,C1,2025-03-01 10:00,,6,0
T4,C1,2025-03-01 10:00,,,-1
T5,C1,2025-03-01 10:00,,3.5,
"""
    folder = write_tables(tmp_path / "d", {**TINY, "tickets.csv": tickets})
    con, report = _ingest(folder)
    assert report.tables["tickets"].quarantined == {
        "time_before_created": 1,
        "rating_out_of_range": 2,
        "negative_value": 1,
    }
    assert con.execute("SELECT ticket_id FROM tickets").fetchall() == [("T1",)]


def test_report_is_stored_in_the_warehouse(tiny_data):
    con, report = _ingest(tiny_data)
    stored = read_ingest_report(con)
    assert stored.to_frame().equals(report.to_frame())


def test_sample_bad_rows_are_quarantined_with_their_planted_rule(sample_dir, sample_data):
    truth = sample_data.truth
    con = duckdb.connect()
    report = ingest_folder(sample_dir, con)
    got = set()
    for table in report.tables:
        for row, rule in con.execute(f"SELECT _row, _rule FROM _quarantine_{table}").fetchall():
            got.add((table, row - 1, rule))  # _row is 1-based, the truth's row 0-based
    planted = set(zip(truth.bad_rows.table, truth.bad_rows.row, truth.bad_rows.rule, strict=True))
    assert got == planted
    warnings = {(t, w): n for t, r in report.tables.items() for w, n in r.warnings.items()}
    assert warnings == truth.warnings.groupby(["table", "warning"]).size().to_dict()


def test_control_rows_are_found_however_the_group_is_spelled(tmp_path):
    """Control contacts get no message, so converting without a click is only odd for
    treated rows: "\tControl " and "HOLDOUT" are control (trimmed of tabs too, as the
    metrics trim them), "treatment" and an empty group are treated."""
    folder = write_tables(
        tmp_path / "cc",
        {
            **TINY,
            "campaigns.csv": (
                "campaign_id,name,channel,start_date,cost\nK1,Spring,email,2025-03-01,10\n"
                "K2,Summer,sms,2025-03-05,10\n"
            ),
            "campaign_contacts.csv": (
                "campaign_id,customer_id,group,sent_at,clicked,converted\n"
                "K1,C1,\tControl ,2025-03-02,false,true\n"
                "K1,C2,HOLDOUT,2025-03-02,false,true\n"
                "K1,C3,treatment,2025-03-02,false,true\n"
                "K2,C1,,2025-03-06,false,true\n"
            ),
        },
    )
    _, report = _ingest(folder)
    assert report.tables["campaign_contacts"].warnings == {"conversion_without_click": 2}


#: Texts the plain-first parsers must read exactly as the full parsers do: plain spellings
#: (taken by the direct casts) beside every shape that must go the long way.
_SPELLINGS = {
    "id": [
        "C0001", "c-1_x", "12", "12.0", "+12.00", " C1", "C1\u200b", "Ｃ１", "e\u0301", "",
        "A B", "1e5", "-7",
    ],
    "timestamp": [
        "2026-06-30", "2026-06-30 10:05", "2026-06-30T10:05:07", "2026-06-30 10:05:07.123456",
        "2026-02-30", "2026-06-30T10:05:07+02:00", "2026-06-30 10:05:07Z", "2026/06/30",
        "30.06.2026 10:05", "45000", "2026年6月30日", "12/31/2026", "2026-6-3", "0001-01-01",
        "20260630",
    ],
    "money": [
        "12", "12.5", "12.50", "-12.50", "-0", "0012.30", "12.345", "12.3456", "1,234.50",
        "1.234,50", "1,500", "(25.00)", "25.00-", "€ 9.99", "99999999999999999999", "1e3",
        "--5", "12.",
    ],
    "number": [
        "4", "4.5", "-4.25", "4.1234", "1.500", "0.500", "1,5", "1 234,5", "1e3", "5.", "abc",
    ],
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(_SPELLINGS))
@pytest.mark.parametrize("convention", [".", ",", None])
def test_plain_first_parsers_read_every_text_as_the_full_parser(kind, convention):
    from crmlib.ingest.values import _parse

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE v (t VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?)", [[t] for t in _SPELLINGS[kind]])
    fast = _parse(kind, "t", "%m/%d/%Y", convention)
    full = _parse(kind, "t", "%m/%d/%Y", convention, plain_first=False)
    rows = con.execute(f"SELECT t, {fast}, {full} FROM v").fetchall()
    assert [(t, a) for t, a, _ in rows] == [(t, b) for t, _, b in rows]
    assert any(a is not None for _, a, _ in rows) and any(a is None for _, a, _ in rows)


def test_long_lines_load_under_the_memory_limit_and_past_the_reader_limit_say_so(
    tmp_path, monkeypatch
):
    """The engine works under the configured memory limit (spilling to a private folder):
    a 3 MB field loads; a line longer than MAX_LINE_BYTES stops the file with one line
    naming it, quoting none of its content."""
    from crmlib.ingest import files

    monkeypatch.setenv("CRM_INGEST_MEMORY", "1500MB")
    tables = {
        "customers.csv": "customer_id,signup_date\nC1,2025-01-01\n",
        "orders.csv": "order_id,customer_id,order_date,revenue,category\n"
        f"A,C1,2025-01-09,1,{'x' * 3_000_000}\nB,C1,2025-01-09,2,toys\n",
    }
    con = duckdb.connect()
    con.execute("SET memory_limit = '3GB'")
    limits = []
    from crmlib.ingest import load

    real = load._ingest_table

    def spy(c, *args, **kwargs):
        limits.append(c.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        return real(c, *args, **kwargs)

    monkeypatch.setattr(load, "_ingest_table", spy)
    report = ingest_folder(write_tables(tmp_path / "long", tables), con)
    assert report.tables["orders"].rows_loaded == 2
    assert set(limits) == {"1.3 GiB"}  # every table under the limit ...
    # ... and the caller's connection gets its own limit back (to the precision DuckDB
    # shows it in: 3GB reads "2.7 GiB")
    restored = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert restored.endswith(" GiB") and abs(float(restored.split()[0]) - 2.7) <= 0.15
    monkeypatch.setattr(load, "_ingest_table", real)
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 1_000_000)
    with pytest.raises(DataContractError) as caught:
        _ingest(write_tables(tmp_path / "longer", tables))
    assert str(caught.value).endswith(
        "orders.csv: cannot be read (not a readable CSV or Parquet file)"
    )
    assert "xxx" not in str(caught.value)


def test_the_ingestion_memory_limit_must_be_a_size(monkeypatch):
    from crmlib.config import ingest_memory_limit
    from crmlib.errors import ParameterError

    monkeypatch.setenv("CRM_INGEST_MEMORY", "lots; DROP TABLE x")
    with pytest.raises(ParameterError, match="CRM_INGEST_MEMORY='lots; DROP TABLE x' is not a"):
        ingest_memory_limit()


def test_ingestion_runs_inside_a_notebook_kernel(tiny_data):
    """A notebook may build the warehouse itself (open_report on fresh exports): the
    engine settings of ingestion must be accepted inside Jupyter too (DuckDB refuses to
    change its progress bar there without ipywidgets)."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    code = (
        "import duckdb\nfrom crmlib.ingest import ingest_folder\n"
        f"report = ingest_folder({str(tiny_data)!r}, duckdb.connect())\n"
        "print(report.tables['orders'].rows_loaded)"
    )
    nb = new_notebook(cells=[new_code_cell(code)])
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    assert nb.cells[0].outputs[0]["text"] == "5\n"


def _typed_exports(folder: Path) -> Path:
    """Parquet exports whose columns carry types (doubles, integers, booleans, dates and
    time stamps), with values at every edge of the direct reading: decimals beyond two,
    huge and tiny numbers, NaN and infinities, negative zero, times outside the plausible
    range, integers that are not flags."""
    import random

    rng = random.Random(3)
    folder.mkdir()
    doubles = [12.5, 12.0, -3.25, 0.1, 0.29, 12.345, 2.675, 1234.567, 0.5, -0.0, 1e-7]
    doubles += [999999999999.99, 1e11, 1e12, 1e15, 1e16, 1e20, float("nan"), float("inf")]
    doubles += [float("-inf"), None, 4.0, 3.0, 5.5, 6.0]
    doubles += [round(rng.uniform(-50, 5000), rng.choice([0, 1, 2, 2, 3, 4])) for _ in range(200)]
    n = len(doubles)
    ints = [rng.choice([0, 1, 2, 3, 5, 6, -1, 10**13, None]) for _ in range(n)]
    ints[:4] = [-(2**63), -(2**31), -(2**15), -(2**7)]
    days = [
        rng.choice(["1850-01-01", "2023-05-06", "2099-12-31", "2100-01-01", "30000-01-01", None])
        for _ in range(n)
    ]
    times = [None if d is None else f"{d} {rng.randint(0, 23):02d}:07:08.123456" for d in days]
    bools = [rng.choice([True, False, None]) for _ in range(n)]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE v (i INTEGER, d DOUBLE, k BIGINT, day DATE, ts TIMESTAMP, b BOOLEAN)")
    con.executemany(
        "INSERT INTO v VALUES (?, ?, ?, ?, ?, ?)",
        list(zip(range(n), doubles, ints, days, times, bools, strict=True)),
    )
    queries = {
        # customer CX is valid, so the rows of CX reach the loaded tables
        "customers": "SELECT 'C' || i AS customer_id, coalesce(ts, TIMESTAMP '2023-01-01') "
        "AS signup_date, ts AS birth_date, day AS updated_at FROM v "
        "UNION ALL SELECT 'CX', TIMESTAMP '2023-01-01', NULL, NULL",
        "orders": "SELECT 'O' || i AS order_id, 'C' || (i % 50) AS customer_id, "
        "coalesce(ts, TIMESTAMP '2023-02-01') AS order_date, coalesce(d, 1.0) AS revenue, "
        "k AS cost FROM v UNION ALL SELECT 'P' || i, 'CX', day, k, d FROM v",
        "communications": "SELECT 'M' || i AS communication_id, 'CX' AS customer_id, "
        "TIMESTAMP '2023-03-01' AS occurred_at, 'email' AS channel, d AS duration_seconds, "
        "k AS satisfaction "
        "FROM v UNION ALL SELECT 'N' || i, 'CX', ts, 'phone', k, d FROM v WHERE ts IS NOT NULL",
        "tickets": "SELECT 'T' || i AS ticket_id, 'CX' AS customer_id, "
        "TIMESTAMP '2023-04-01' AS created_at, ts AS resolved_at, d AS reopens, "
        "k AS satisfaction FROM v UNION ALL SELECT 'U' || i, 'CX', day, day, k, d FROM v "
        "WHERE day IS NOT NULL",
        "campaigns": "SELECT 'K1' AS campaign_id, 'email' AS channel, "
        "TIMESTAMP '2023-01-01' AS start_date, 10.0 AS cost",
        "campaign_contacts": "SELECT 'K1' AS campaign_id, 'C' || i AS customer_id, "
        "b AS delivered, k AS opened, b AS clicked, k AS converted, d AS revenue FROM v",
    }
    for name, query in queries.items():
        con.execute(f"COPY ({query}) TO '{folder / (name + '.parquet')}' (FORMAT parquet)")
    # integers of every width, down to each width's smallest value (abs() of it raises)
    narrow = folder.parent / (folder.name + "-narrow")
    narrow.mkdir()
    for name, query in {
        "customers": "SELECT 'CX' AS customer_id, TIMESTAMP '2023-01-01' AS signup_date",
        "orders": "SELECT 'O' || i AS order_id, 'CX' AS customer_id, "
        "TIMESTAMP '2023-02-01' AS order_date, TRY_CAST(k AS INTEGER) AS revenue, "
        "TRY_CAST(k AS SMALLINT) AS cost FROM v",
        "tickets": "SELECT 'T' || i AS ticket_id, 'CX' AS customer_id, "
        "TIMESTAMP '2023-04-01' AS created_at, TRY_CAST(k AS TINYINT) AS reopens, "
        "TRY_CAST(k AS SMALLINT) AS satisfaction FROM v",
    }.items():
        con.execute(f"COPY ({query}) TO '{narrow / (name + '.parquet')}' (FORMAT parquet)")
    return folder


def test_typed_parquet_reads_as_its_text_would(tmp_path, monkeypatch):
    """A typed Parquet value is read directly where that gives exactly what parsing its
    text gives: every table, quarantine row (as text) and count equals a reading of the
    same files with every column turned into text first, as ingestion did before."""
    import crmlib.ingest.files as files
    from crmlib.ingest.values import _typed

    folder = _typed_exports(tmp_path / "typed")

    def run(folder=folder):
        con = duckdb.connect()
        report = ingest_folder(folder, con)
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        tables = {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}
        return report.to_frame(), tables

    narrow = folder.parent / "typed-narrow"
    typed_frame, typed_tables = run()
    typed_narrow = run(narrow)
    monkeypatch.setattr(files, "NATIVE_TYPES", frozenset())
    text_frame, text_tables = run()
    text_narrow = run(narrow)
    assert typed_narrow[0].equals(text_narrow[0])
    assert repr(typed_narrow[1]) == repr(text_narrow[1])
    assert "negative_value" in repr(text_narrow[1]["_quarantine_tickets"])
    assert typed_frame.equals(text_frame)
    assert typed_tables.keys() == text_tables.keys()
    for name in text_tables:
        assert repr(typed_tables[name]) == repr(text_tables[name]), name
    broken = {
        row[3] for n, t in text_tables.items() if n.startswith("_quarantine") for row in t
    }  # the edges reach the rules, not only loading
    assert {"implausible_date", "ambiguous_number", "unparseable", "negative_value"} <= broken
    assert "rating_out_of_range" in broken
    assert len(text_tables["orders"]) > 50
    durations = [r[4] for r in text_tables["communications"] if r[0] == "M9"]  # -0.0 in d
    assert [repr(x) for x in durations] == ["0.0"]
    assert all(_typed(k, t, "v") for k, t in [("money", "DOUBLE"), ("timestamp", "DATE")])


def test_loaded_tables_keep_the_files_row_order():
    """Same data, same tables: every loaded table holds its rows in the file's order (float
    sums downstream depend on it; the materialized parse stages used to reorder them)."""
    from crmlib.config import SAMPLE_DATA

    con = duckdb.connect()
    ingest_folder(SAMPLE_DATA, con)
    for table, key in [("orders", "order_id"), ("communications", "communication_id")]:
        file_rows = con.execute(
            f"SELECT {key} FROM read_csv('{SAMPLE_DATA / (table + '.csv')}', all_varchar=true)"
        ).fetchall()
        first = {}
        for i, (k,) in enumerate(file_rows):
            first.setdefault(k.strip(), i)
        loaded = [first[k] for (k,) in con.execute(f"SELECT {key} FROM {table}").fetchall()]
        assert loaded == sorted(loaded), table


@pytest.mark.parametrize("extra", ["dt", "file_row_number"])
def test_parquet_rows_are_numbered_in_file_order_across_row_groups(tmp_path, extra):
    """A Parquet export is read where it lies (a view numbered by the engine's row number):
    over many row groups, the loaded rows keep the file's order and each quarantined row
    has its own 1-based row. A column the engine adds from a ``key=value`` folder (hive
    partition) is kept as an extra; a file column named ``file_row_number`` (which the
    engine cannot number beside) is kept too, and the rows are numbered all the same."""
    folder = tmp_path / "dt=2024-06-01" if extra == "dt" else tmp_path / "plain"
    folder.mkdir()
    con = duckdb.connect()
    own = ", i * 7 AS file_row_number" if extra == "file_row_number" else ""
    con.execute(
        "COPY (SELECT 'C' || i AS customer_id, "
        "CASE WHEN i % 97 = 5 THEN 'not a date' ELSE '2024-01-02' END AS signup_date"
        f"{own} FROM range(1, 2001) t(i) ORDER BY i) "
        f"TO '{folder / 'customers.parquet'}' (FORMAT parquet, ROW_GROUP_SIZE 128)"
    )
    report = ingest_folder(folder, con).tables["customers"]
    bad = [i for i in range(1, 2001) if i % 97 == 5]
    assert (report.rows_read, report.rows_quarantined) == (2000, len(bad))
    rows = con.execute("SELECT _row, customer_id FROM _quarantine_customers ORDER BY _row")
    assert rows.fetchall() == [(i, f"C{i}") for i in bad]
    loaded = [r[0] for r in con.execute("SELECT customer_id FROM customers").fetchall()]
    assert loaded == [f"C{i}" for i in range(1, 2001) if i not in bad]
    columns = [r[0] for r in con.execute("DESCRIBE customers").fetchall()]
    assert columns == ["customer_id", "signup_date", extra]
    if extra == "dt":
        assert con.execute("SELECT DISTINCT CAST(dt AS VARCHAR) FROM customers").fetchall() == [
            ("2024-06-01",)
        ]


def test_null_tokens_are_found_as_the_plain_lookup_finds_them():
    """``_clean`` skips the lower-casing of values longer than any null token; every
    spelling (case, padding, characters ``lower`` maps to ASCII) reads as the plain
    ``lower(trim(v)) in tokens`` look-up reads it."""
    import itertools

    from crmlib.ingest.base import NULL_TOKENS, _one_of
    from crmlib.ingest.values import _clean

    alphabet = ["n", "N", "a", "/", "#", " ", "\u212a", "\u0130", "u", "L"]
    spellings = ["".join(p) for k in range(7) for p in itertools.product(alphabet[:5], repeat=k)]
    spellings += [f"{pad}{t.upper()}{pad}" for t in NULL_TOKENS for pad in ("", " ", "   ")]
    spellings += ["NULL\u212a", "\u212anan", "NaN ", " nUlL", "none!", "N/A\t", "\u0130na", None]
    con = duckdb.connect()
    con.execute("CREATE TABLE v (t VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?)", [[t] for t in spellings])
    plain = f"CASE WHEN {_one_of('lower(trim(t))', NULL_TOKENS)} THEN NULL ELSE trim(t) END"
    rows = con.execute(f"SELECT t, {_clean('t')}, {plain} FROM v").fetchall()
    assert [(t, a) for t, a, _ in rows] == [(t, b) for t, _, b in rows]
    assert sum(a is None for _, a, _ in rows) > len(NULL_TOKENS) * 3


def _spelling_exports(folder: Path) -> Path:
    """CSV exports whose keys and dates take every spelling of :data:`_SPELLINGS`, padded
    with spaces and no-break spaces, in null-token and letter-case variants, beside extra
    columns named like the parser's own aliases (``f0``, ``C1``); and a Parquet export with
    float keys."""
    pads = ["", " ", "\u00a0", "  \u3000"]
    tokens = ["NULL", " na ", "Nan", "nat", "none", "N/A", "#n/a", "nA"]
    odd = ["-", "aaaaa", "2026-06-30 24:00", "2026-06-30 23:59:60", "0000-01-01", "2100-01-01"]
    ids = [p + s + p for s in _SPELLINGS["id"] + tokens + odd for p in pads]
    days = [p + s for s in _SPELLINGS["timestamp"] + tokens + odd for p in pads[:3]]
    customers = ["customer_id,signup_date,birth_date,f0,F1,c1,p0,r0"] + [
        f'"{c}",{days[k % len(days)]},{days[(k * 5) % len(days)]},{k % 2 == 0},hello,x,y,z'
        for k, c in enumerate(ids)
    ]
    orders = ["order_id,customer_id,order_date,revenue"] + [
        f'"{ids[(k * 7) % len(ids)]}","{c}",{d},{k % 50}.50'
        for k, (c, d) in enumerate((c, d) for c in ids[::3] for d in days[::5])
    ]
    folder.mkdir()
    (folder / "customers.csv").write_text("\n".join(customers) + "\n", encoding="utf-8")
    (folder / "orders.csv").write_text("\n".join(orders) + "\n", encoding="utf-8")
    floats = folder.parent / (folder.name + "-floats")
    floats.mkdir()
    duckdb.sql(
        "COPY (SELECT * FROM (VALUES (12.0, TIMESTAMP '2024-01-01', 1), (-0.0, NULL, 2), "
        "(12.5, TIMESTAMP '1850-01-01', 3), ('nan'::DOUBLE, TIMESTAMP '2024-01-02', 4), "
        "('inf'::DOUBLE, TIMESTAMP '2024-01-03', 5), (1e20, TIMESTAMP '2024-01-04', 6), "
        "(12.0, TIMESTAMP '2024-01-05', 7)) v(customer_id, signup_date, f0)) "
        f"TO '{floats / 'customers.parquet'}' (FORMAT parquet)"
    )
    return folder


def test_the_plain_first_readings_load_what_the_full_parsers_load(
    tmp_path, monkeypatch, sample_dir
):
    """Reading plain spellings first (straight from the raw text, or by a direct cast)
    loads and quarantines every row of hostile exports and of the bundled sample exactly
    as the full parsers alone do."""
    import crmlib.ingest.rules as rules

    def run(folder: Path) -> dict:
        con = duckdb.connect()
        ingest_folder(folder, con)
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}

    spellings = _spelling_exports(tmp_path / "spellings")
    typed = _typed_exports(tmp_path / "typed")
    folders = [spellings, tmp_path / "spellings-floats", typed, sample_dir]
    plain = [run(f) for f in folders]
    monkeypatch.setattr(rules, "PLAIN_FIRST", False)
    full = [run(f) for f in folders]
    for a, b in zip(plain, full, strict=True):
        assert a.keys() == b.keys()
        for name in a:
            assert repr(a[name]) == repr(b[name]), name
    spelled = plain[0]
    assert len(spelled["customers"]) > 5 and len(spelled["orders"]) > 5
    hit = {t: {row[3] for row in spelled["_quarantine_" + t]} for t in ("customers", "orders")}
    assert {"missing_required", "unparseable", "duplicate_key"} <= hit["customers"]
    assert {"missing_required", "implausible_date", "duplicate_key"} <= hit["orders"]
