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
