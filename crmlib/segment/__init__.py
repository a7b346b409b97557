"""Customer segments: RFM features, rule-based RFM segments and a clustering segmenter.

Three layers, each usable on its own:

1. :func:`features_table` computes, in the engine, one row per customer with a valid
   order by ``as_of``: recency, frequency, monetary value and tenure
   (:func:`customer_features` fetches it, for a base that fits in memory).
2. :func:`rfm_segment_table` (in the engine) and :func:`rfm_scores` / :func:`rfm_segments`
   (in pandas) give the marketing convention: quintile scores 1-5 and named segments
   (Champions, Loyal, At risk, ...) from a rule table the caller may replace
   (``segment_config=``).
3. :class:`CustomerSegmenter` is a scikit-learn-style estimator: KMeans on standardized
   ``log1p`` features, ``n_segments="auto"`` picks k by silhouette on a seeded sample, the
   clusters are numbered by value and named from their profile. The reports fit it on a
   seeded sample (:func:`sample_features`, at most ``size`` customers) and assign every
   customer in the engine (:meth:`CustomerSegmenter.assign_table`).

:func:`segment_profiles`, :func:`standardized_profiles` and :func:`segment_crosstab` take
either pandas frames or engine tables; with engine tables only one row per segment leaves
the engine. :func:`customer_segment_table` (engine) and :func:`customer_segments` (fetched)
give the other reports ``customer_id`` → ``segment`` for every customer.
"""

from crmlib.metrics.categories import (
    category_mix,
    category_trends,
)
from crmlib.metrics.core import (
    segments_table,
)
from crmlib.segment.assign import (
    customer_segment_table,
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
    features_table,
    sample_features,
)
from crmlib.segment.profiles import (
    segment_crosstab,
    segment_profiles,
    standardized_profiles,
)
from crmlib.segment.rfm import (
    default_rfm_segment_config,
    rfm_scores,
    rfm_segment_table,
    rfm_segments,
)

__all__ = [
    "FEATURES",
    "NO_ORDERS_SEGMENT",
    "OTHER_SEGMENT",
    "customer_features",
    "features_table",
    "sample_features",
    "rfm_scores",
    "rfm_segment_table",
    "default_rfm_segment_config",
    "rfm_segments",
    "CustomerSegmenter",
    "silhouette_scores",
    "customer_segments",
    "customer_segment_table",
    "segments_at_campaign_start",
    "segment_profiles",
    "standardized_profiles",
    "segment_crosstab",
    "segments_table",
    "category_mix",
    "category_trends",
]
