"""Reports cannot leak: secrets, PII, or scripts injected through data."""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path

import pandas as pd
import pytest

import crmlib
from crmlib.warehouse import build_warehouse
from tests.conftest import render_once

PAYLOADS = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 1">',
    '"><svg onload="window.__pwned = 1">',
    "</td></tr></table><script>window.__pwned = 1</script>",
    "$\\undefinedcommand$ and $x^2$",  # matplotlib mathtext must not parse data
]


def _all_files(folder: Path):
    return [p for p in folder.rglob("*") if p.is_file()]


def test_secret_in_the_database_url_is_written_nowhere(
    tmp_path, tmp_path_factory, sample_dir, monkeypatch, capfd
):
    # The URL stands in for a production one: the secret rides in it like a password.
    secret = "pw" + secrets.token_hex(12)
    built, _ = build_warehouse(sample_dir)
    # a copy: DuckDB refuses a second connection with another configuration to a file that
    # this process already holds open (the session's sample warehouse)
    warehouse = tmp_path_factory.mktemp("db") / "copy.duckdb"
    shutil.copyfile(built, warehouse)
    url = f"duckdb://{warehouse}?read_only=true&custom_user_agent={secret}"
    monkeypatch.setenv("CRM_TEST_DATABASE_URL", url)
    log: list[str] = []
    from crmlib.report import render

    result = render("CRM_TEST_DATABASE_URL", out=tmp_path, only=["cdm"], progress=log.append)
    assert [r.status for r in result.notebooks] == ["ok"]
    captured = capfd.readouterr()
    for path in _all_files(tmp_path):
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in "\n".join(log) + captured.out + captured.err
    assert (
        "environment variable CRM_TEST_DATABASE_URL"
        in (tmp_path / result.as_of / "run.json").read_text()
    )


def test_a_failing_connection_does_not_echo_the_url(monkeypatch):
    secret = "pw" + secrets.token_hex(12)
    monkeypatch.setenv("CRM_TEST_DATABASE_URL", f"postgres://reporter:{secret}@127.0.0.1:9/crm")
    with pytest.raises(crmlib.DataContractError) as err:
        crmlib.connect("CRM_TEST_DATABASE_URL")
    assert secret not in str(err.value) and "CRM_TEST_DATABASE_URL" in str(err.value)


def _visible_text(html: str) -> str:
    """HTML without embedded images and styles (the text a reader could see)."""
    html = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", html)
    return re.sub(r"<style.*?</style>", "", html, flags=re.S)


def test_no_pii_of_the_sample_in_stakeholder_html(sample_render, sample_dir):
    _, out = sample_render
    customers = pd.read_csv(sample_dir / "customers.csv", dtype=str, keep_default_na=False)
    emails = {e for e in customers.email if "@" in e}
    phones = {p for p in customers.phone if sum(c.isdigit() for c in p) >= 7}
    names = {n for n in customers.name if len(n) >= 2}
    # every file a stakeholder folder holds: reports, executed notebooks, KPIs, quarantine
    htmls = sorted(p for p in out.rglob("*") if p.suffix in (".html", ".ipynb", ".json", ".csv"))
    assert len(htmls) >= 8 and any(p.parent.name == "quarantine" for p in htmls)
    for path in htmls:
        text = _visible_text(path.read_text(encoding="utf-8"))
        found = [v for v in emails | phones | names if v in text]
        assert not found, f"{path.name} shows PII: {found[:5]}"


@pytest.fixture(scope="module")
def injected_render(tmp_path_factory, sample_dir):
    """The sample with script payloads in every kind of text field, rendered."""
    data = tmp_path_factory.mktemp("injected-data")
    for f in sample_dir.glob("*.csv"):
        shutil.copy(f, data / f.name)
    edits = {
        "customers.csv": ["name", "region", "source", "email"],
        "orders.csv": ["category", "channel"],
        "campaigns.csv": ["name", "objective", "target_segment"],
        "communications.csv": ["outcome"],
        "tickets.csv": ["category"],
    }
    for name, cols in edits.items():
        path = data / name
        if not path.exists():
            continue
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for i, col in enumerate(c for c in cols if c in df.columns):
            # a payload in many rows, so it reaches the top-N tables and figures
            idx = df.index[i % 7 :: 7]
            df.loc[idx, col] = PAYLOADS[i % len(PAYLOADS)]
        df.to_csv(path, index=False)
    out = tmp_path_factory.mktemp("injected-render")
    return render_once(data, out), out


@pytest.mark.browser
def test_injected_scripts_never_run_in_chromium(injected_render, browser):
    result, out = injected_render
    assert not result.failed, [(r.name, r.error) for r in result.failed]
    pages = sorted((out / result.as_of).glob("*.html")) + [out / "index.html"]
    for path in pages:
        page = browser.new_page()
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__pwned") == "undefined", path.name
        page.close()
    # the payload text is there, escaped, so the test did exercise the escaping
    html = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert "&lt;script&gt;window.__pwned" in html or "&lt;img src=x" in html


def test_customer_ids_that_are_emails_never_reach_a_stakeholder_file(tmp_path, sample_dir):
    import re as _re

    from crmlib.report import render

    data = tmp_path / "email-ids"
    data.mkdir()
    as_email = _re.compile(r"\bC(\d{7})\b")
    for name in ("customers.csv", "orders.csv"):
        text = (sample_dir / name).read_text(encoding="utf-8")
        (data / name).write_text(as_email.sub(r"c\1@example.com", text), encoding="utf-8")
    assert "c0000001@example.com" in (data / "orders.csv").read_text()
    out = tmp_path / "reports"
    result = render(data, out=out, only=["01_cdm"], progress=lambda m: None)
    assert [r.status for r in result.notebooks] == ["ok"], result.notebooks
    files = [p for p in out.rglob("*") if p.suffix in (".html", ".ipynb", ".json", ".csv")]
    assert any(p.name == "01_cdm.html" for p in files)
    for path in files:
        found = set(_re.findall(r"c\d{7}@example\.com", _visible_text(path.read_text())))
        assert not found, f"{path.name} shows e-mail ids: {sorted(found)[:3]}"
