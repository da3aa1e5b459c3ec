"""The planner on every CNN family of the test zoo: the stated floor is reachable, plans apply exactly."""

from __future__ import annotations

import re
import warnings

import pytest

import hwprune
from hwprune.errors import BudgetError
from tests.hwprune.zoo import ZOO, zoo_input

FAMILIES = (
    "resnext",
    "alexnet",
    "densenet",
    "googlenet",
    "inception_v3",
    "squeezenet",
    "mobilenet_v3",
    "efficientnet",
    "shufflenet_v2",
    "regnet",
    "convnext",
    "functional",
)


@pytest.mark.parametrize("name", FAMILIES)
def test_plan_near_the_floor_applies_exactly(name: str) -> None:
    model, x = ZOO[name]().eval(), zoo_input(name)[:1]
    hw = "dpu-b1024-sparse"
    with pytest.raises(BudgetError, match="smallest reachable latency") as info:
        hwprune.plan(model, x, hw=hw, budget=0.01)
    floor = int(re.findall(r"on \S+: (\d+) cycles", str(info.value))[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LayerNorm groups warn that they are not exact before fine-tuning
        plan = hwprune.plan(model, x, hw=hw, budget=f"{int(floor * 1.05)}cycles")
        slim = hwprune.apply(model, x, plan)
    assert floor <= plan.cycles <= plan.budget_cycles
    assert hwprune.simulate(slim, x, hw=hw).total_cycles == plan.cycles
    assert slim(x).shape == model(x).shape
