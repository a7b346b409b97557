import math

import numpy as np
import pytest

from crmlib.record import normalize_kpi


def test_normalize_rounds_and_maps_non_finite_to_none():
    assert normalize_kpi("a", np.int64(3)) == 3
    assert isinstance(normalize_kpi("a", np.int64(3)), int)
    assert normalize_kpi("a", 0.1 + 0.2) == 0.3
    assert normalize_kpi("a", math.nan) is None
    assert normalize_kpi("a", np.float64("inf")) is None
    assert normalize_kpi("a", True) == 1


def test_normalize_rejects_other_types():
    with pytest.raises(TypeError, match=r"KPI a=\[1\] should be a number"):
        normalize_kpi("a", [1])
