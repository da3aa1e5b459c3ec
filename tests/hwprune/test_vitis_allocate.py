"""Sensitivity curves and the allocation of per-group ratios for a MACs target or a threshold."""

from __future__ import annotations

import pytest

from hwprune.errors import BudgetError, StaleFileError
from hwprune.vitis.allocate import sensitivity_keep, threshold_keep, uniform_keep
from hwprune.vitis.sampling import GroupSlot
from hwprune.vitis.sensitivity import Sensitivity

SLOTS = [GroupSlot("a", 32), GroupSlot("b", 32), GroupSlot("c", 64)]


def _cost(keep):
    # a chain a -> b -> c with a fixed input of 8 channels and 10 outputs
    return 8 * keep["a"] + keep["a"] * keep["b"] + keep["b"] * keep["c"] + keep["c"] * 10


FULL = _cost({"a": 32, "b": 32, "c": 64})


def _sens():
    records = {
        "baseline": 0.9,
        "a@0.3": 0.9, "a@0.6": 0.89,  # insensitive
        "b@0.3": 0.6, "b@0.6": 0.2,  # very sensitive
        "c@0.3": 0.88, "c@0.6": 0.8,
    }  # fmt: skip
    return Sensitivity.from_records(records)


def test_sensitivity_curves_interpolate_and_extrapolate_cautiously():
    s = _sens()
    assert s.score("a", 0) == 0.9 and s.score("a", 0.15) == pytest.approx(0.9)
    assert s.score("b", 0.45) == pytest.approx(0.4)
    assert s.score("c", 0.8) == pytest.approx(0.8 * 0.2 / 0.4), "falls to 0 at ratio 1 past the data"
    assert s.score("unknown", 0.3) == pytest.approx((0.9 + 0.6 + 0.88) / 3), "mean of analysed groups"
    assert s.drop("a", 0.3) == 0.0 and s.drop("b", 0.6) == pytest.approx(0.7)
    w = s.weights()
    assert w["b"] > w["c"] > w["a"] >= 0.05 and sum(w.values()) / 3 == pytest.approx(1.0, abs=0.05)
    assert s.max_ratio_within("c", 0.03, (0.3, 0.6)) == 0.3
    assert s.max_ratio_within("b", 0.03, (0.3, 0.6)) == 0.0


def test_malformed_records():
    with pytest.raises(StaleFileError, match="no baseline"):
        Sensitivity.from_records({"a@0.3": 0.5})
    with pytest.raises(StaleFileError, match="malformed record 'a'"):
        Sensitivity.from_records({"baseline": 1.0, "a": 0.5})


def test_sensitivity_allocation_spares_sensitive_groups_and_meets_target():
    target = FULL // 2
    keep = sensitivity_keep(SLOTS, _sens(), _cost, target, divisible=2)
    assert _cost(keep) <= target
    assert keep["b"] / 32 > keep["a"] / 32, "the sensitive group keeps more"
    assert all(k % 2 == 0 for k in keep.values())
    uni = uniform_keep(SLOTS, _cost, target, divisible=2)
    assert _cost(uni) <= target
    fractions = [k / s.size for s, k in zip(SLOTS, uni.values(), strict=True)]
    assert max(fractions) - min(fractions) <= 2 / 32 + 1e-9, "one ratio for all, up to rounding"
    s = _sens()
    lost = sum(s.drop(g.key, 1 - keep[g.key] / g.size) for g in SLOTS)
    lost_uniform = sum(s.drop(g.key, 1 - uni[g.key] / g.size) for g in SLOTS)
    assert lost < lost_uniform


def test_unreachable_target_and_threshold():
    with pytest.raises(BudgetError, match="out of reach"):
        sensitivity_keep(SLOTS, _sens(), _cost, 10)
    with pytest.raises(BudgetError, match="out of reach"):
        uniform_keep(SLOTS, _cost, 10)
    keep = threshold_keep(SLOTS, _sens(), 0.03, (0.3, 0.6), divisible=2)
    assert keep == {"a": 12, "b": 32, "c": 44}
