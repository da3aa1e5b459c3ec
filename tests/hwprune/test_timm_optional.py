"""Optional: a sample of timm CNN families prunes to runnable slim models (skipped when timm is absent).

timm is not in the test extra (hwprune does not depend on it); ``benchmarks/bench_timm_coverage.py`` runs
all 60 families and says how to install timm aside.
"""

from __future__ import annotations

import pytest

from tests.hwprune.timm_support import evaluate

try:
    from tests.hwprune.timm_support import import_timm

    timm = import_timm()
except ImportError as e:  # not installed: nothing to test here, on purpose
    timm = None
    _why = f"timm is not installed ({e}); it is optional, see benchmarks/bench_timm_coverage.py"

# the patterns of issue 11: BatchNormAct2d (F.batch_norm), "same" padding (math.ceil on sizes), weight
# standardisation (F.conv2d on a computed weight), GRN, stochastic depth, squeeze-excite
SAMPLE = [
    "efficientnet_lite0",
    "tf_efficientnet_b0",
    "nf_resnet26",
    "convnextv2_atto",
    "regnety_002",
    "mobilenetv3_small_050",
]


@pytest.mark.slow
@pytest.mark.skipif(timm is None, reason=_why if timm is None else "")
@pytest.mark.parametrize("name", SAMPLE)
def test_timm_family_prunes_like_uniform(name: str) -> None:
    row = evaluate(timm, name, size=96)
    assert row.ok and row.exact0, row.error
    assert row.prunable > 0 and row.opaque == 0, row.reasons
    assert row.excess <= 0.10, (row.kept, row.uniform)
