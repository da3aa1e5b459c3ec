"""hwprune.prune / prune_with_keep: the public pruning API, its arguments and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hwprune
from hwprune.analysis.counts import count
from hwprune.errors import EmptyGroupError, ExcludeError, PruneConfigError
from hwprune.pruning import uniform_keep
from hwprune.transforms.channels import prune_channels
from tests.hwprune.fe_support import (
    n_params,
)
from tests.hwprune.zoo import ZOO, zoo_input


@pytest.fixture(scope="module")
def resnet():
    return ZOO["resnet_basic"]().eval(), zoo_input("resnet_basic")


def test_prune_makes_real_smaller_layers(resnet) -> None:
    model, x = resnet
    slim = hwprune.prune(model, x, ratio=0.5)
    graph = hwprune.trace(model, x)
    groups = hwprune.channel_groups(graph)
    conv1 = next(g for g in groups if g.key == "conv1")
    assert slim.conv1.out_channels == uniform_keep(conv1.size, 0.5) < model.conv1.out_channels
    assert n_params(slim) < n_params(model)
    assert count(hwprune.trace(slim, x)).params == n_params(slim)
    with torch.no_grad():
        assert slim(x).shape == model(x).shape
    spec = slim.hwprune_spec
    assert spec["structure_hash"] == hwprune.structure_hash(graph)
    assert set(spec["keep"]) <= {g.key for g in groups}


def test_ratio_zero_is_the_identity(resnet) -> None:
    model, x = resnet
    slim = hwprune.prune(model, x, ratio=0.0)
    assert n_params(slim) == n_params(model)
    with torch.no_grad():
        assert torch.equal(slim(x), model(x))


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5, "0.3", True, None])
def test_ratio_outside_range_is_a_typed_error(resnet, ratio) -> None:
    model, x = resnet
    with pytest.raises(PruneConfigError, match=r"ratio must be a number in \[0, 1\)"):
        hwprune.prune(model, x, ratio=ratio)


def test_bad_round_to_and_importance(resnet) -> None:
    model, x = resnet
    with pytest.raises(PruneConfigError, match="round_to"):
        hwprune.prune(model, x, ratio=0.2, round_to=0)
    with pytest.raises(PruneConfigError, match="unknown importance 'l3'"):
        hwprune.prune(model, x, ratio=0.2, importance="l3")


def test_round_to_keeps_multiples(resnet) -> None:
    model, x = resnet
    slim = hwprune.prune(model, x, ratio=0.3, round_to=4)
    for name in ("conv1", "layers.1.0.conv1", "layers.2.0.conv1"):
        assert slim.get_submodule(name).out_channels % 4 == 0
    assert uniform_keep(24, 0.3, 8) == 16 and uniform_keep(5, 0.3, 8) == 4 and uniform_keep(3, 0.9) == 1


def test_excludes_keep_the_module_whole(resnet) -> None:
    model, x = resnet
    slim = hwprune.prune(model, x, ratio=0.5, excludes=("conv1",))
    assert slim.conv1.out_channels == model.conv1.out_channels
    with pytest.raises(ExcludeError, match="names no module"):
        hwprune.prune(model, x, ratio=0.5, excludes=("conv9",))
    slim = hwprune.prune(model, x, ratio=0.5, excludes=("layers.1",))  # a parent name covers its children
    for name, m in model.named_modules():
        if name.startswith("layers.1.") and isinstance(m, torch.nn.Conv2d):
            assert slim.get_submodule(name).out_channels == m.out_channels, name
    assert (
        slim.get_submodule("layers.0.0.conv1").out_channels
        < model.get_submodule("layers.0.0.conv1").out_channels
    )


def test_group_pruned_to_zero_is_a_typed_error(resnet) -> None:
    model, x = resnet
    graph = hwprune.trace(model, x)
    gid = next(g.id for g in hwprune.channel_groups(graph) if g.prunable)
    with pytest.raises(EmptyGroupError, match="zero channels"):
        prune_channels(graph, {gid: []})
    with pytest.raises(EmptyGroupError):
        hwprune.prune_with_keep(model, x, {gid: []})


def test_keep_errors(resnet) -> None:
    model, x = resnet
    graph = hwprune.trace(model, x)
    groups = hwprune.channel_groups(graph)
    blocked = next(g for g in groups if not g.prunable)
    with pytest.raises(PruneConfigError, match="not prunable"):
        prune_channels(graph, {blocked.id: [0]})
    with pytest.raises(PruneConfigError, match="not a channel group"):
        prune_channels(graph, {"no-such-group": [0]})
    with pytest.raises(PruneConfigError, match="must lie in"):
        prune_channels(graph, {groups[1].id: [groups[1].size]})
    with pytest.raises(PruneConfigError, match="needs an unpruned graph"):
        prune_channels(prune_channels(graph, {groups[1].id: [0]}), {groups[1].id: [0]})


def test_prune_with_keep_by_key_indices_and_counts(resnet) -> None:
    model, x = resnet
    graph = hwprune.trace(model, x)
    groups = [g for g in hwprune.channel_groups(graph) if g.prunable]
    a, b = groups[0], groups[1]
    slim = hwprune.prune_with_keep(model, x, {a.key: [0, 2], b.id: 3})
    assert slim.hwprune_spec["keep"][a.key] == [0, 2]
    assert len(slim.hwprune_spec["keep"][b.key]) == 3
    scores = hwprune.analysis.importance.group_importance(graph, groups, "l1")[b.id]
    assert slim.hwprune_spec["keep"][b.key] == sorted(np.argsort(-scores, kind="stable")[:3].tolist())
    with pytest.raises(PruneConfigError, match="kept count"):
        hwprune.prune_with_keep(model, x, {b.id: 0})
    blocked = next(g for g in hwprune.channel_groups(graph) if not g.prunable)
    with pytest.raises(PruneConfigError, match="not prunable"):
        hwprune.prune_with_keep(model, x, {blocked.key: 1})


def test_importances_all_run_and_taylor_needs_gradients(resnet) -> None:
    model, x = resnet
    for name in ("l1", "l2", "bn_scale", "random"):
        slim = hwprune.prune(model, x, ratio=0.25, importance=name)
        assert n_params(slim) < n_params(model)
    with pytest.raises(PruneConfigError, match="gradient"):
        hwprune.prune(model, x, ratio=0.25, importance="taylor")
    m = ZOO["resnet_basic"]()
    m(x).sum().backward()
    assert n_params(hwprune.prune(m, x, ratio=0.25, importance="taylor")) < n_params(m)
