"""hwmodel report and config messages that used to mislead (issue 12)."""

from __future__ import annotations

import pytest

import hwmodel
from hwmodel.config.files import load_config
from hwmodel.errors import ConfigError
from hwmodel.reports.csv import compute_rows


def test_dpu_compute_util_is_the_layer_compute_utilization() -> None:
    layers = [hwmodel.Layer.conv("c0", 18, 18, 64, 64, 3), hwmodel.Layer.conv("c1", 18, 18, 64, 128, 3)]
    rep = hwmodel.simulate(layers, "dpu-b4096")
    rows = compute_rows(rep)
    for row, r in zip(rows, rep.layers, strict=True):
        assert row[6] == pytest.approx(100.0 * r.compute_utilization)
        assert 0.0 < row[6] <= 100.0  # was 0.0 on every DPU layer


def test_missing_array_height_suggests_array_height(tmp_path) -> None:
    cfg = tmp_path / "x.cfg"
    cfg.write_text(
        "[general]\nrun_name = x\n\n[architecture_presets]\nArrayWidth: 32\nIfmapSramSzkB: 64\n"
        "FilterSramSzkB: 64\nOfmapSramSzkB: 64\nDataflow: ws\n"
    )
    with pytest.raises(ConfigError, match="missing field\\(s\\) ArrayHeight .* add e.g. 'ArrayHeight: 32'"):
        load_config(cfg)
