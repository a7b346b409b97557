"""The bad rows and odd values planted in a sample (duplicate keys, unparseable dates,
out-of-range scores, ...), each with the quarantine rule or warning it must trigger."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from crmlib.contract import RULES, TABLES
from crmlib.sample.world import DAY


# ---------------------------------------------------------------------------------------
# Bad rows and warnings
# ---------------------------------------------------------------------------------------
def _insert(table: pa.Table, inserts: list[tuple[int, dict]]):
    """Insert rows before the given clean positions.

    Returns the new table, the final position of each inserted row and a function mapping
    clean positions to final positions.
    """
    order = sorted(range(len(inserts)), key=lambda i: inserts[i][0])
    pieces, prev, final = [], 0, [0] * len(inserts)
    for k, i in enumerate(order):
        pos = inserts[i][0]
        pieces.append(table.slice(prev, pos - prev))
        pieces.append(pa.Table.from_pylist([inserts[i][1]], schema=table.schema))
        final[i] = pos + k
        prev = pos
    pieces.append(table.slice(prev))
    positions = np.sort(np.array([p for p, _ in inserts], dtype=np.int64))

    def shift(clean: np.ndarray) -> np.ndarray:
        clean = np.asarray(clean, dtype=np.int64)
        return clean + np.searchsorted(positions, clean, side="right")

    return pa.concat_tables(pieces), final, shift


def _row(table: pa.Table, i: int) -> dict:
    return table.slice(int(i), 1).to_pylist()[0]


def _valid(table: pa.Table, column: str) -> np.ndarray:
    return table.column(column).is_valid().to_numpy(zero_copy_only=False)


def _key(table_name: str, row: dict) -> str:
    return "|".join(str(row[k]) for k in TABLES[table_name].key)


def _plant_bad_rows(plant: np.random.Generator, tables: dict[str, pa.Table], cust: dict):
    """Insert the deliberately bad rows; return the shift function per table and records."""
    from datetime import timedelta

    records: list[dict] = []
    shifts = {}

    def mid(n: int) -> int:
        return int(plant.integers(n // 5, max(n // 5 + 1, (4 * n) // 5)))

    def id_like(example: str, number: int) -> str:
        return f"{example[0]}{number:0{len(example) - 1}d}"

    plan: dict[str, list[tuple[int, dict, str, str, str]]] = {t: [] for t in tables}
    # customers: a stale duplicate before the current row, and a row without signup_date
    cu = tables["customers"]
    n = cu.num_rows
    changed = np.flatnonzero(cust["updated"] - cust["signup"] >= 2 * DAY)
    inner = changed[(changed >= n // 5) & (changed < (4 * n) // 5)]
    j = int(plant.choice(inner if len(inner) else changed))
    stale = _row(cu, j)
    age = stale["updated_at"] - stale["signup_date"]
    stale["updated_at"] = stale["signup_date"] + timedelta(seconds=int(age.total_seconds()) // 3)
    stale["region"] = "上海" if stale["region"] != "上海" else "北京"
    if stale["email"]:
        stale["email"] = stale["email"].split("@")[0] + "@old.example"
    plan["customers"].append(
        (
            j,
            stale,
            "duplicate_key",
            "updated_at",
            "stale copy of the customer with an older updated_at, placed before the current row",
        )
    )
    first_id = cu.column("customer_id")[0].as_py()
    missing = _row(cu, mid(n))
    missing["customer_id"] = id_like(first_id, n + 1)
    missing["signup_date"] = None
    plan["customers"].append(
        (mid(n), missing, "missing_required", "signup_date", "extra customer, empty signup_date")
    )
    unknown_customer = first_id[0] + "9" * (len(first_id) - 1)

    od = tables["orders"]
    m = od.num_rows
    first_id = od.column("order_id")[0].as_py()
    j = mid(m)
    dup = _row(od, j)
    dup["revenue"] = round(dup["revenue"] * 1.1 + 0.01, 2)
    plan["orders"].append(
        (
            min(m, j + 1 + int(plant.integers(0, 50))),
            dup,
            "duplicate_key",
            "order_id",
            "repeats an earlier order_id (with another revenue)",
        )
    )
    for k, (column, value, rule, text) in enumerate(
        [
            ("revenue", None, "negative_value", "negative revenue"),
            ("customer_id", unknown_customer, "unknown_customer", "customer not in customers"),
            ("order_date", "2025-13-45", "unparseable", "order_date 2025-13-45"),
            ("revenue", None, "missing_required", "empty revenue"),
        ]
    ):
        r = _row(od, mid(m))
        r["order_id"] = id_like(first_id, m + 1 + k)
        r[column] = -abs(r["revenue"]) if rule == "negative_value" else value
        plan["orders"].append((mid(m), r, rule, column, text))

    cm = tables["communications"]
    m = cm.num_rows
    first_id = cm.column("communication_id")[0].as_py()
    rated = np.flatnonzero(_valid(cm, "satisfaction"))
    r = _row(cm, int(plant.choice(rated)))
    r["communication_id"] = id_like(first_id, m + 1)
    r["satisfaction"] = 7
    plan["communications"].append(
        (mid(m), r, "rating_out_of_range", "satisfaction", "satisfaction 7")
    )
    dur = cm.column("duration_seconds").to_numpy(zero_copy_only=False)
    calls = np.flatnonzero(np.nan_to_num(dur) > 0)
    r = _row(cm, int(plant.choice(calls)))
    r["communication_id"] = id_like(first_id, m + 2)
    r["duration_seconds"] = -r["duration_seconds"]
    plan["communications"].append(
        (mid(m), r, "negative_value", "duration_seconds", "negative duration_seconds")
    )

    cc = tables["campaign_contacts"]
    m = cc.num_rows
    camp_id = tables["campaigns"].column("campaign_id")[0].as_py()
    r = _row(cc, mid(m))
    r["campaign_id"] = camp_id[0] + "9" * (len(camp_id) - 1)
    plan["campaign_contacts"].append(
        (mid(m), r, "unknown_campaign", "campaign_id", "campaign not in campaigns")
    )
    j = mid(m)
    plan["campaign_contacts"].append(
        (
            min(m, j + 1 + int(plant.integers(0, 20))),
            _row(cc, j),
            "duplicate_key",
            "campaign_id",
            "repeats an earlier (campaign_id, customer_id)",
        )
    )

    tk = tables["tickets"]
    m = tk.num_rows
    first_id = tk.column("ticket_id")[0].as_py()
    solved = np.flatnonzero(_valid(tk, "resolved_at"))
    r = _row(tk, int(plant.choice(solved)))
    r["ticket_id"] = id_like(first_id, m + 1)
    r["resolved_at"] = r["created_at"] - timedelta(hours=2)
    r["status"] = "closed"
    plan["tickets"].append(
        (mid(m), r, "time_before_created", "resolved_at", "resolved 2 h before created")
    )

    for name, items in plan.items():
        if not items:
            shifts[name] = lambda clean: np.asarray(clean, dtype=np.int64)
            continue
        tables[name], final, shifts[name] = _insert(tables[name], [(p, r) for p, r, *_ in items])
        for (_, r, rule, column, text), pos in zip(items, final, strict=True):
            records.append(
                {
                    "table": name,
                    "row": pos,
                    "key": _key(name, r),
                    "rule": rule,
                    "column": column,
                    "description": text,
                }
            )
    assert all(r["rule"] in RULES for r in records)
    return shifts, records


def _bad_emails(plant: np.random.Generator, cust: dict) -> tuple[np.ndarray, list[str]]:
    """Pick three customers with an e-mail and return malformed versions of it."""
    table = cust["table"]
    ok = np.flatnonzero(cust["email_ok"])
    rows = np.sort(plant.choice(ok, min(3, len(ok)), replace=False))
    emails = table.column("email").take(pa.array(rows)).to_pylist()
    bad = []
    for k, e in enumerate(emails):
        local, domain = e.split("@")
        bad.append([f"{local}_at_{domain}", f"{local}@", f"{local}@@{domain}"][k % 3])
    return rows, bad
