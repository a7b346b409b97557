"""Figures for every report: one theme, ``plot_*`` functions returning matplotlib Axes.

The theme and the generic figures live in :mod:`crmlib.plots._base`; each report's own
figures live in a module named after its domain. Everything is re-exported here, so
notebooks write ``from crmlib import plots`` and ``plots.plot_…``.
"""

from crmlib.plots._base import *  # noqa: F403
from crmlib.plots._base import __all__ as _base_all
from crmlib.plots.campaigns import *  # noqa: F403
from crmlib.plots.campaigns import __all__ as _campaigns_all
from crmlib.plots.communications import *  # noqa: F403
from crmlib.plots.communications import __all__ as _communications_all
from crmlib.plots.customers import *  # noqa: F403
from crmlib.plots.customers import __all__ as _customers_all
from crmlib.plots.service import *  # noqa: F403
from crmlib.plots.service import __all__ as _service_all

__all__ = [*_base_all, *_customers_all, *_communications_all, *_campaigns_all, *_service_all]
