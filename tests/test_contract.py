from crmlib import config
from crmlib.contract import KINDS, RULES, TABLES, contract_markdown, table


def test_six_tables_with_keys_among_their_columns():
    assert set(TABLES) == {
        "customers",
        "orders",
        "communications",
        "campaigns",
        "campaign_contacts",
        "tickets",
    }
    for t in TABLES.values():
        assert set(t.key) <= set(t.names), t.name
        assert set(t.key) <= set(t.required), t.name
        for col in t.columns:
            assert col.kind in KINDS
        for col, ref in t.references.items():
            assert col in t.names and ref in TABLES


def test_required_columns_match_the_architecture():
    assert TABLES["customers"].required == ("customer_id", "signup_date")
    assert TABLES["orders"].required == ("order_id", "customer_id", "order_date", "revenue")
    assert TABLES["tickets"].not_before == {
        "first_response_at": "created_at",
        "resolved_at": "created_at",
    }


def test_unknown_table_error_names_the_known_ones():
    import pytest

    with pytest.raises(KeyError, match="unknown table 'order'; the contract has customers"):
        table("order")


def test_docs_are_generated_from_the_contract():
    doc = (config.PROJECT_ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    assert doc == contract_markdown(), "run: python -m crmlib.contract > docs/data-contract.md"
    for rule in RULES:
        assert f"`{rule}`" in doc
