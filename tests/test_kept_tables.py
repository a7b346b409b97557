"""The per-customer tables a report reads several times are computed once and kept in the
engine (:func:`crmlib.engines.cached`): each read of a lazy expression aggregates every
order again (at 1M customers the lifetime-value section read its summary and forecast nine
times, about 30 s of the customer report)."""

from __future__ import annotations

import ibis.expr.operations as ops

import crmlib
from crmlib import clv, segment
from crmlib.metrics import customers as cm


def _kept(expr) -> bool:
    """True when ``expr`` reads one table of the engine, not a query over the orders."""
    return isinstance(expr.op(), ops.DatabaseTable)


def test_the_reports_reused_per_customer_tables_are_kept_in_the_engine(sample_con):
    con = sample_con
    as_of = crmlib.resolve_as_of(con, "")
    features = segment.features_table(con, as_of)
    summary = clv.summary_table(cm.valid_orders(con, as_of), observation_end=as_of)
    fit = clv.fit_value_models(clv.sample_summary(summary, size=500, seed=0))
    forecast = clv.value_forecast_table(fit, summary)
    segmenter = segment.CustomerSegmenter(n_segments=3, random_state=0)
    clusters = segmenter.fit(segment.sample_features(features, size=500, seed=0)).assign_table(
        features
    )
    kept = {
        "customer_value_table": cm.customer_value_table(con, as_of),
        "features_table": features,
        "rfm_segment_table": segment.rfm_segment_table(features),
        "assign_table": clusters,
        "summary_table": summary,
        "value_forecast_table": forecast,
    }
    assert [name for name, expr in kept.items() if not _kept(expr)] == []
    assert not _kept(cm.valid_orders(con, as_of))  # the check can fail: a query is not kept
    # the kept forecast is the forecast: one row per customer of the summary
    assert int(forecast.count().execute()) == int(summary.count().execute())
