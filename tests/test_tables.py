"""Report tables never show nan or inf, and figures draw what the data allows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from crmlib import plots
from crmlib.tables import NOT_REACHED, style_table


def test_infinite_values_read_not_reached_and_nan_stays_blank():
    df = pd.DataFrame(
        {"priority": ["high", "low"], "median_hours": [1.5, np.inf], "rate": [0.5, np.nan]}
    )
    html = style_table(df, percent=["rate"]).data
    assert f">{NOT_REACHED}</td>" in html and ">1.50</td>" in html
    assert "inf" not in html.replace("crm-", "") and "nan" not in html.lower()


def test_a_missing_split_column_draws_totals_or_says_so():
    import matplotlib.pyplot as plt

    weekly = pd.DataFrame(
        {"week": pd.date_range("2025-01-06", periods=3, freq="7D"), "tickets": [3, 4, 5]}
    )
    ax = plots.plot_lines(
        weekly, "week", "tickets", hue="priority", title="t", xlabel="x", ylabel="y"
    )
    assert len(ax.lines) == 1  # the totals, without the split the data cannot make
    monthly = weekly.rename(columns={"week": "month"})
    ax = plots.plot_stacked_monthly(monthly, "month", "tickets", "channel", title="t", ylabel="y")
    assert any("no channel column" in t.get_text() for t in ax.texts)
    plt.close("all")


def test_a_section_whose_tables_are_absent_says_which_and_how_to_add_them(tiny_data):
    import crmlib
    from crmlib.tables import missing_tables_notice

    con = crmlib.connect(str(tiny_data))
    assert missing_tables_notice(con, "customers", "orders", section="Segments") is None
    text = missing_tables_notice(con, "orders", "tickets", "surveys", section="Segments").data
    assert "Segments needs the tickets and surveys tables, which this data does not have" in text
    assert "add tickets.csv or tickets.parquet, surveys.csv or surveys.parquet" in text


def test_a_section_that_cannot_be_computed_hands_its_reason_to_the_figure_and_table(tiny_data):
    import matplotlib.pyplot as plt

    import crmlib
    from crmlib import plots
    from crmlib.metrics import campaigns as cmm
    from crmlib.tables import requires, style_table

    con = crmlib.connect(str(tiny_data))
    calls = []
    met = requires(con, "customers", section="Segments")
    assert met.why == "" and met(lambda x: calls.append(x) or x, 1) == 1 and calls == [1]
    unmet = requires(con, "customers", "surveys", section="Planning per segment")
    frame = unmet(lambda: calls.append("ran"))
    assert calls == [1]  # the section's function never runs without its tables
    assert unmet.value(lambda: 1) is None
    reason = "Planning per segment needs the surveys table, which this data does not have"
    assert reason in unmet.why
    # The display table passes the reason on, the table shows it where the numbers would be.
    assert reason in style_table(cmm.plan_table(frame), caption="plan").data
    ax = plots.plot_participation(frame)
    assert any(reason[:40] in t.get_text() for t in ax.texts)
    plt.close("all")


def test_model_sections_say_why_when_the_models_cannot_be_trusted():
    import numpy as np

    from crmlib import clv
    from crmlib.metrics import campaigns as cmm
    from crmlib.tables import style_table

    summary = pd.DataFrame(
        {"frequency": [0.0] * 5, "recency": [0.0] * 5, "T": [10.0] * 5, "monetary_value": 0.0},
        index=pd.Index(range(5), name="customer_id"),
    )
    models = clv.fit_value_models(summary)
    assert not models.ok and models.purchase_model is None
    forecast = clv.value_forecast(models, summary)
    for table in (
        models.parameters("spend"),
        clv.value_concentration(forecast.clv),
        forecast.head(3)[["clv"]],
    ):
        assert "No forecast: the lifetime-value models cannot be trusted" in style_table(table).data
    sizes = cmm.control_group_sizes(np.nan)
    shown = style_table(cmm.group_size_table(sizes)).data
    assert "No campaign has a measured control group" in shown


def test_bound_pairs_read_as_one_interval_column():
    """``x_low``/``x_high`` (and ``x_ci_low``/``x_ci_high``) show as one "low to high"
    column where the low bound stood; the frame keeps its numbers."""
    from crmlib.formats import RATE, attach

    df = attach(
        pd.DataFrame(
            {
                "channel": ["a", "b"],
                "csat": [0.5, 0.7],
                "csat_low": [0.4, np.nan],
                "csat_high": [0.6, np.nan],
                "median_hours": [3.0, np.inf],
                "median_ci_low": [2.0, np.inf],
                "median_ci_high": [4.5, np.inf],
                "lonely_low": [1.0, 2.0],
            }
        ),
        csat=RATE,
        csat_low=RATE,
        csat_high=RATE,
    )
    html = style_table(df).data
    heads = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", html)
    assert heads == [
        "channel", "csat", "csat 95% interval", "median hours", "median 95% interval",
        "lonely low",
    ]  # fmt: skip
    cells = re.findall(r"<td(?: [^>]*)?>(.*?)</td>", html)
    assert cells[:6] == ["a", "50.0%", "40.0% to 60.0%", "3.00", "2.00 to 4.50", "1.00"]
    assert cells[6:] == ["b", "70.0%", "n/a", NOT_REACHED, NOT_REACHED, "2.00"]
    assert list(df.columns)[2:4] == ["csat_low", "csat_high"]  # the frame is unchanged


def test_long_tables_collapse_and_detail_columns_wait_to_be_asked_for():
    from crmlib.formats import Column, Kind, attach
    from crmlib.tables import COLLAPSE_AFTER

    n = COLLAPSE_AFTER + 5
    df = attach(
        pd.DataFrame({"name": [f"c{i}" for i in range(n)], "lift": range(n), "id": range(n)}),
        id=Column(Kind.COUNT, detail=True),
    )
    html = style_table(df).data
    assert f"data-rows='{n}' data-show='{COLLAPSE_AFTER}'" in html
    assert html.count("<tr class='crm-more'>") == n - COLLAPSE_AFTER
    assert "data-details='1'" in html
    assert html.count("class='crm-detail'") == n + 1  # its header and every cell
    # numbers to sort by, not their text; text columns carry none
    assert "<td style='text-align:right' data-v='16'>16</td>" in html
    assert "<td style='text-align:left'>c16</td>" in html
    short = style_table(df.head(COLLAPSE_AFTER + 2)).data  # hiding 2 rows helps nobody
    assert "data-rows" not in short and "crm-more" not in short


def test_sort_keys_ignore_the_last_bits_of_a_parallel_sum():
    """The same number summed in another order gives the same page bytes."""
    a = style_table(pd.DataFrame({"x": [0.1 + 0.2]})).data
    b = style_table(pd.DataFrame({"x": [0.3]})).data
    assert a == b and "data-v='0.3'" in a


def test_an_amount_ending_in_five_cents_has_one_sort_key():
    """796,974,069.95 (a 1M-customer cluster's revenue) summed in two orders differed in
    its last bits, either side of the ten-digit rounding edge: 796974070 in one render,
    796974069.9 in the next. Amounts are rounded to the cent first."""
    below, above = 796974069.9499999, 796974069.9500001
    assert f"{below:.10g}" != f"{above:.10g}"  # the edge the test is about
    pages = [style_table(pd.DataFrame({"r": [x]}), money=["r"]).data for x in (below, above)]
    assert pages[0] == pages[1] and "796,974,069.95" in pages[0]


def test_amounts_a_cent_apart_sort_apart_at_any_size():
    """Ten significant digits dropped the cents from 100,000,000 on: 123,456,789.12 and
    123,456,789.13 had one sort key, so a column sorted on the page could put them either
    way. A sum of zero whose noise fell below zero sorts as 0.00, not -0.00."""
    import re

    html = style_table(
        pd.DataFrame({"r": [123456789.12, 123456789.13, -1e-13, 1e-13]}), money=["r"]
    ).data
    keys = re.findall(r"data-v='([^']*)'", html)
    assert keys == ["123456789.12", "123456789.13", "0.00", "0.00"]
