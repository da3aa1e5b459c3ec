"""Emitting slim models: spec JSON + state_dict round trip, mismatches, torch.jit.trace and ONNX export."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import hwprune
from hwprune.emit.spec import export_onnx, load_spec, save_spec
from hwprune.errors import PlanMismatchError, SpecError, StaleFileError
from tests.hwprune.fe_support import check_model
from tests.hwprune.zoo import ZOO, zoo_input


@pytest.fixture(scope="module")
def pruned():
    model = ZOO["mobilenet_v3"]().eval()
    x = zoo_input("mobilenet_v3")
    return model, x, hwprune.prune(model, x, ratio=0.4, importance="random", seed=3).eval()


def test_spec_and_state_dict_rebuild_the_slim_model(pruned, tmp_path) -> None:
    model, x, slim = pruned
    with torch.no_grad():
        for p in slim.parameters():  # pretend fine-tuning changed the weights
            p.add_(0.01)
    save_spec(slim, tmp_path / "slim.spec.json")
    torch.save(slim.state_dict(), tmp_path / "slim.pt")
    doc = json.loads((tmp_path / "slim.spec.json").read_text())
    assert doc["format"] == "hwprune-spec" and doc["version"] == 1 and doc["keep"]
    assert doc["structure_hash"] == hwprune.structure_hash(hwprune.trace(model, x))
    rebuilt = hwprune.get_slim_model(model, tmp_path / "slim.spec.json", tmp_path / "slim.pt").eval()
    assert type(rebuilt).__name__ == type(slim).__name__
    with torch.no_grad():
        assert torch.equal(rebuilt(x), slim(x))
    fresh = hwprune.transform(model, load_spec(tmp_path / "slim.spec.json")).eval()
    assert [p.shape for p in fresh.parameters()] == [p.shape for p in slim.parameters()]


def test_spec_for_another_model_is_a_plan_mismatch(pruned) -> None:
    model, x, slim = pruned
    with pytest.raises(PlanMismatchError, match="structure hash"):
        hwprune.transform(ZOO["mnasnet"](), slim.hwprune_spec)


def test_malformed_specs(tmp_path, pruned) -> None:
    model, x, slim = pruned
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(StaleFileError):
        load_spec(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something"}))
    with pytest.raises(SpecError, match="not an hwprune spec"):
        load_spec(tmp_path / "other.json")
    spec = dict(slim.hwprune_spec, version=99)
    with pytest.raises(SpecError, match="version"):
        hwprune.transform(model, spec)
    with pytest.raises(SpecError, match="no hwprune_spec"):
        save_spec(torch.nn.Linear(2, 2), tmp_path / "x.json")


def test_torch_jit_trace_of_slim_model(pruned) -> None:
    model, x, slim = pruned
    traced = torch.jit.trace(slim, x)
    with torch.no_grad():
        assert torch.allclose(traced(x), slim(x))
        y = torch.randn(3, *x.shape[1:])  # another batch size
        assert torch.allclose(traced(y), slim(y), atol=1e-6)


def test_slim_model_trains_and_does_not_share_weights(pruned) -> None:
    model, x, slim = pruned
    slim = copy.deepcopy(slim)
    ours = {p.data_ptr() for p in model.parameters()}
    assert not ours & {p.data_ptr() for p in pruned[2].parameters()}
    slim.train()
    slim(x).sum().backward()
    assert all(p.grad is not None for p in slim.parameters() if p.requires_grad)


def test_onnx_export_matches(pruned, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    model, x, slim = pruned
    path = export_onnx(slim, x, tmp_path / "slim.onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    (out,) = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: x.numpy()})
    with torch.no_grad():
        assert np.allclose(out, slim(x).numpy(), atol=1e-4)


def test_spec_remembers_leaf_modules(tmp_path) -> None:
    class Gate(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if x.sum() > 0 else -x

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Conv2d(3, 6, 1)
            self.b = torch.nn.Conv2d(6, 4, 1)
            self.gate = Gate()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gate(self.b(torch.relu(self.a(x))))

    model, x = Net().eval(), torch.randn(1, 3, 4, 4)
    slim = hwprune.prune(model, x, ratio=0.5, leaf_modules=(Gate,))
    assert slim.a.out_channels == 3 and slim.hwprune_spec["leaf_modules"] == ["gate"]
    save_spec(slim, tmp_path / "s.json")
    rebuilt = hwprune.transform(model, tmp_path / "s.json").eval()
    with torch.no_grad():
        assert torch.equal(rebuilt(x), slim.eval()(x))


class _FullSlices(torch.nn.Module):
    """Full-range channel slices of a pruned tensor, open and closed at either end (emit re-slices them)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(3, 6, 1)
        self.b = torch.nn.Conv2d(6, 2, 1)
        self.c = torch.nn.Conv2d(6, 2, 1)
        self.d = torch.nn.Conv2d(6, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        return self.b(y[:, 0:]) + self.c(y[:, -6:]) + self.d(y[:, :6])


def test_full_range_channel_slices_of_a_pruned_tensor_are_resliced() -> None:
    graph, groups = check_model(_FullSlices(), torch.randn(1, 3, 4, 4))
    assert any(g.prunable and g.size == 6 for g in groups)
    pruned = hwprune.prune(_FullSlices(), torch.randn(1, 3, 4, 4), ratio=0.5)
    code = pruned.code
    assert "slice(0, 3, None)" in code and "slice(None, 6, None)" not in code, code
