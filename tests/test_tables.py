"""Report tables never show nan or inf, and figures draw what the data allows."""

from __future__ import annotations

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
