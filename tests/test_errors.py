"""Messages never carry a URL's password."""

from __future__ import annotations

import pytest

from crmlib.errors import CrmError, redact

PASSWORD = "S3cr3t-" + "71a"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"validating data: postgres://reporter:{PASSWORD}@db.internal/crm",
            "validating data: postgres://***@db.internal/crm",
        ),
        # a URL passed through a path join loses one slash
        (f"postgres:/reporter:{PASSWORD}@db/crm missing", "postgres:/***@db/crm missing"),
        (
            f"snowflake://u@acct/db?password={PASSWORD}&warehouse=w",
            "snowflake://***@acct/db?password=***&warehouse=w",
        ),
        ("duckdb:///tmp/crm.duckdb and mailto:a@b.c", "duckdb:///tmp/crm.duckdb and mailto:a@b.c"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_every_crm_error_is_redacted():
    assert PASSWORD not in str(CrmError(f"bad source mysql://root:{PASSWORD}@host/x"))
