"""SparsePruner: Vitis AI's N:M rules, masks that survive fine-tuning, report of dense layers, export."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hwprune.errors import ExcludeError, SparsityConfigError
from hwprune.vitis.sparse import SparsePruner, activation_nm, check_sparsity, export_sparse_model, nm_mask


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)  # 3 input channels: does not fit any block
        self.conv = nn.Conv2d(16, 32, 3, padding=1)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw = nn.Conv2d(32, 16, 1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.pw(self.dw(torch.relu(self.conv(x)))))
        return self.fc(x.mean((2, 3)))


@pytest.fixture
def net():
    torch.manual_seed(0)
    return Net().eval()


X = torch.randn(2, 3, 8, 8)


def _block_counts(w: torch.Tensor, block: int) -> torch.Tensor:
    in_ch = w.shape[1]
    return (w != 0).movedim(1, -1).reshape(-1, in_ch // block, block).sum(-1)


@pytest.mark.parametrize(
    "w, a, b",
    [(0.3, 0, 16), (0.5, 0.25, 16), (0.5, 0.5, 16), (0, 0.5, 8), (0.5, 0, 32), (0.5, 0, 2), ("0.5", 0, 4)],
)
def test_invalid_combinations_raise(w, a, b):
    with pytest.raises(SparsityConfigError):
        check_sparsity(w, a, b)


@pytest.mark.parametrize("w, a, b", [(0, 0, 4), (0.5, 0, 8), (0.75, 0, 16), (0.75, 0.5, 4)])
def test_valid_combinations_pass(w, a, b):
    check_sparsity(w, a, b)


def test_nm_mask_keeps_largest_per_block():
    w = torch.tensor(
        [[[[1.0]], [[-5.0]], [[2.0]], [[0.1]], [[3.0]], [[-4.0]], [[0.2]], [[0.3]]]]
    )  # [1,8,1,1]
    m = nm_mask(w, keep=2, block=4).flatten().tolist()
    assert m == [0, 1, 1, 0, 1, 1, 0, 0]


@pytest.mark.parametrize("w_sp, block", [(0.5, 16), (0.75, 8), (0.5, 4)])
def test_sparse_model_pattern_report_and_user_model_untouched(net, w_sp, block):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    pruner = SparsePruner(net, X)
    sp = pruner.sparse_model(w_sparsity=w_sp, block_size=block)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    rep = pruner.report
    sparse_names = {s.name for s in rep.sparse}
    skipped = {s.name: s.reason for s in rep.skipped}
    assert "stem" in skipped and "multiple of block_size" in skipped["stem"]
    assert "dw" in skipped and "grouped" in skipped["dw"]
    assert {"conv", "pw"} <= sparse_names
    assert ("fc" in sparse_names) == (16 % block == 0)
    keep = round(block * (1 - w_sp))
    for name in sparse_names:
        counts = _block_counts(dict(sp.named_modules())[name].weight, block)
        assert (counts <= keep).all() and (counts == keep).float().mean() > 0.99
    assert "dense: " in rep.to_markdown()


def test_masked_finetune_keeps_pattern_and_export_bakes_zeros(net):
    sp = SparsePruner(net, X).sparse_model(w_sparsity=0.75, a_sparsity=0.5, block_size=4)
    zero = sp.conv.weight == 0
    opt = torch.optim.SGD(sp.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        sp(X).square().mean().backward()
        opt.step()
    assert torch.equal(sp.conv.weight == 0, zero), "fine-tuning must not revive masked weights"
    out = export_sparse_model(sp)
    assert not any(hasattr(m, "parametrizations") for m in out.modules())
    assert set(out.state_dict()) == set(net.state_dict())
    assert torch.equal(out.conv.weight == 0, zero)
    torch.testing.assert_close(out(X), sp(X))
    plain = export_sparse_model(sp, keep_activation_sparsity=False)
    assert not any(len(m._forward_pre_hooks) for m in plain.modules())
    # a fresh instance of the user's class loads the exported weights: no pickled modules needed
    fresh = Net().eval()
    fresh.load_state_dict(plain.state_dict())
    assert torch.equal(fresh.conv.weight == 0, zero)


def test_activation_sparsity_two_of_four():
    x = torch.randn(3, 8, 5, 5)
    y = activation_nm(x)
    nz = (y != 0).movedim(1, -1).reshape(3, 5, 5, 2, 4).sum(-1)
    assert (nz == 2).all()
    kept = y != 0
    assert torch.equal(y[kept], x[kept])


def test_excludes_by_name_and_module_and_bad_name(net):
    pruner = SparsePruner(net, X)
    pruner.sparse_model(0.5, 0, 16, excludes=["conv", net.pw])
    assert set(pruner.report.excluded) == {"conv", "pw"}
    assert not {"conv", "pw"} & {s.name for s in pruner.report.sparse}
    with pytest.raises(ExcludeError, match=r"'convv'.*did you mean 'conv'"):
        pruner.sparse_model(0.5, 0, 16, excludes=["convv"])
    with pytest.raises(ExcludeError, match="not a submodule"):
        pruner.sparse_model(0.5, 0, 16, excludes=[nn.Conv2d(1, 1, 1)])
