"""Shared fixtures for hwmodel tests."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


@pytest.fixture
def scale_cfg_text() -> str:
    """A SCALE-Sim v3 .cfg for an 8x8 OS array."""
    return (
        "[general]\nrun_name = tiny\n\n[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\n"
        "IfmapSramSzkB: 64\nFilterSramSzkB: 64\nOfmapSramSzkB: 32\nIfmapOffset: 0\nFilterOffset: 10000000\n"
        "OfmapOffset: 20000000\nDataflow : os\nBandwidth : 10\nReadRequestBuffer: 32\nWriteRequestBuffer: 32\n\n"
        "[sparsity]\nSparsitySupport : true\n\n[run_presets]\nInterfaceBandwidth: CALC\nUseRamulatorTrace: False\n"
    )


@pytest.fixture
def conv_topology_text() -> str:
    """A small SCALE-Sim conv topology with a DP row, an N:M row and trailing commas."""
    return (
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Sparsity,\n"
        "conv1, 10, 10, 3, 3, 4, 12, 1, 1:1,\n"
        "conv2, 9, 9, 3, 3, 5, 7, 2, 2:4,\n"
        "\n"
        "dw_DP, 8, 8, 3, 3, 3, 1, 1, 1:1,\n"
    )
