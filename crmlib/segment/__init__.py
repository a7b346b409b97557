"""Customer segments: RFM features, rule-based RFM segments and a clustering segmenter.

Three layers, each usable on its own:

1. :func:`customer_features` computes, in the engine, one row per customer with a valid
   order by ``as_of``: recency, frequency, monetary value and tenure. Only that
   per-customer table comes to pandas.
2. :func:`rfm_scores` and :func:`rfm_segments` give the marketing convention: quintile
   scores 1-5 and named segments (Champions, Loyal, At risk, ...) from a rule table the
   caller may replace (``segment_config=``).
3. :class:`CustomerSegmenter` is a scikit-learn-style estimator: KMeans on standardized
   ``log1p`` features, ``n_segments="auto"`` picks k by silhouette on a seeded sample, the
   clusters are numbered by value and named from their profile.

:func:`customer_segments` wraps them for the other reports: ``customer_id`` → ``segment``
for every customer, whatever the method.
"""

from crmlib.metrics.categories import (
    category_mix,
    category_trends,
)
from crmlib.metrics.core import (
    segments_table,
)
from crmlib.segment.assign import (
    customer_segments,
    segments_at_campaign_start,
)
from crmlib.segment.clusters import (
    CustomerSegmenter,
    silhouette_scores,
)
from crmlib.segment.features import (
    FEATURES,
    NO_ORDERS_SEGMENT,
    OTHER_SEGMENT,
    customer_features,
)
from crmlib.segment.profiles import (
    segment_crosstab,
    segment_profiles,
    standardized_profiles,
)
from crmlib.segment.rfm import (
    default_rfm_segment_config,
    rfm_scores,
    rfm_segments,
)

__all__ = [
    "FEATURES",
    "NO_ORDERS_SEGMENT",
    "OTHER_SEGMENT",
    "customer_features",
    "rfm_scores",
    "default_rfm_segment_config",
    "rfm_segments",
    "CustomerSegmenter",
    "silhouette_scores",
    "customer_segments",
    "segments_at_campaign_start",
    "segment_profiles",
    "standardized_profiles",
    "segment_crosstab",
    "segments_table",
    "category_mix",
    "category_trends",
]
