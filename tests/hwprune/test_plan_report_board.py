"""A plan on a DPU states the board's fixed cost per frame beside the planned speedup; others do not."""

from __future__ import annotations

import re

import pytest
import torch

import hwprune
import hwprune.models as models
from hwmodel.dpu.board import FRAME_OVERHEAD_MS, board_frame_ms
from hwprune.report.plan_report import plan_markdown


def _plan(hw: str) -> hwprune.Plan:
    torch.manual_seed(0)
    model = models.get("resnet20", num_classes=10).eval()
    return hwprune.plan(model, torch.zeros(1, 3, 32, 32), hw=hw, budget=0.5)


def test_dpu_plan_shows_the_frame_speedup_a_board_would_see():
    plan = _plan("dpu-b4096")
    text = plan_markdown(plan)
    m = re.search(r"a frame takes ([\d.]+) -> ([\d.]+) ms: ([\d.]+)x, against ([\d.]+)x", text)
    assert m, text[:2000]
    before, after, frame_x, dpu_x = map(float, m.groups())
    assert before == pytest.approx(plan.unpruned_ms + FRAME_OVERHEAD_MS, abs=1e-4)
    assert after == pytest.approx(board_frame_ms(plan.latency_ms), abs=1e-4)
    # a fixed cost per frame always shrinks the speedup; on a 32x32 ResNet-20 it is most of a frame
    assert 1.0 < frame_x < dpu_x
    assert frame_x < 1.3


def test_systolic_plan_has_no_dpu_frame_cost():
    assert "cost per frame" not in plan_markdown(_plan("systolic-32x32-ws"))
