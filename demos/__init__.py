"""End-to-end demonstrations on real engines (``make spark-demo``, ``make postgres-demo``)."""
