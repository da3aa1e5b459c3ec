"""Nothing is silently free: every op without a cost model is listed (name, op, why), warned about,
recorded in plan.json and reports, and an error under strict mode."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import hwprune
from hwprune.errors import NothingPrunableError, UnmodelledOpWarning, UnsupportedOpError
from hwprune.ir.kinds import OpKind
from hwprune.lower.lower import FREE_KINDS, LOWERING, NOT_MODELLED, lower_graph


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc = nn.Linear(32, 10)

    def features(self, x):
        return torch.relu(self.conv2(torch.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class Spectral(Plain):
    """The issue's fft/einsum/roll/sort model: each costs real time on any hardware."""

    def forward(self, x):
        y = self.features(x)
        y = y + torch.fft.fft2(y).real
        y = torch.einsum("nchw,nchw->nchw", y, y)
        y = torch.roll(y, 1, dims=2)
        y = torch.sort(y, dim=3).values
        return self.fc(y.mean((2, 3)))


class Recurrent(nn.Module):
    """Only an LSTM and a classifier: nothing to prune that buys latency."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 32, batch_first=True)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(self.lstm(x)[0][:, -1])


class Attention(Plain):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)

    def forward(self, x):
        y = self.features(x).flatten(2).transpose(1, 2)
        y = self.attn(y, y, y)[0]
        return self.fc(y.mean(1))


X = torch.randn(1, 3, 16, 16)


def test_every_kind_is_in_exactly_one_table() -> None:
    for kind in OpKind:
        homes = [
            name
            for name, table in (
                ("LOWERING", LOWERING),
                ("FREE_KINDS", FREE_KINDS),
                ("NOT_MODELLED", NOT_MODELLED),
            )
            if kind in table
        ]
        assert len(homes) == 1, (kind, homes)


def test_fft_einsum_roll_sort_are_listed_not_free() -> None:
    g = hwprune.trace(Spectral().eval(), X)
    lowering = lower_graph(g)
    ops = {
        name: next(u for u in lowering.unmodelled if u.op.endswith(name))
        for name in ("fft2", "einsum", "roll", "sort")
    }
    assert all(u.kind == "opaque" and "no cost model" in u.why for u in ops.values())
    assert "FFT" in ops["fft2"].why and "einsum" in ops["einsum"].why and "sort" in ops["sort"].why


def test_simulate_warns_lists_in_report_and_strict_raises(tmp_path) -> None:
    model = Spectral().eval()
    with pytest.warns(UnmodelledOpWarning, match="count as 0 cycles") as rec:
        rep = hwprune.simulate(model, X, hw="dpu-b4096", mode="analytic")
    assert "fft2" in str(rec[0].message)
    assert any("fft2" in n for n in rep.notes) and len(rep.notes) >= 4
    from hwmodel.reports import write_markdown_report

    write_markdown_report(rep, tmp_path)
    assert "Not in these figures" in (tmp_path / "REPORT.md").read_text()
    with pytest.raises(UnsupportedOpError, match="einsum"):
        hwprune.simulate(model, X, hw="dpu-b4096", mode="analytic", strict=True)


def test_a_model_without_unmodelled_ops_is_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = hwprune.simulate(Plain().eval(), X, hw="dpu-b4096", mode="analytic")
    assert rep.notes == ()


def test_plan_records_unmodelled_ops_in_plan_json(tmp_path) -> None:
    from hwprune.report.plan_report import plan_markdown

    with pytest.warns(UnmodelledOpWarning):
        plan = hwprune.plan(Attention().eval(), X, hw="dpu-b4096", budget=0.8)
    # the attention block, and the token mean (a reduction that is not a spatial pooling)
    assert [(u["name"], u["op"]) for u in plan.unmodelled] == [
        ("attn", "MultiheadAttention"),
        ("mean", "mean"),
    ]
    assert "attention" in plan.unmodelled[0]["why"] and "reduction over dims [1]" in plan.unmodelled[1]["why"]
    plan.save(tmp_path / "plan.json")
    again = hwprune.Plan.load(tmp_path / "plan.json")
    assert again.unmodelled == plan.unmodelled
    assert "| attn | MultiheadAttention |" in plan_markdown(again)
    with pytest.raises(UnsupportedOpError, match="MultiheadAttention"):
        hwprune.plan(Attention().eval(), X, hw="dpu-b4096", budget=0.8, strict=True)


def test_lstm_only_model_says_nothing_is_prunable() -> None:
    model = Recurrent().eval()
    x = torch.randn(1, 8, 16)
    with pytest.warns(UnmodelledOpWarning, match="LSTM"):
        rep = hwprune.simulate(model, x, hw="dpu-b4096", mode="analytic")
    assert [r.name for r in rep.layers] == ["fc"]  # the LSTM is listed, not hidden
    with pytest.warns(UnmodelledOpWarning), pytest.raises(NothingPrunableError, match="nothing is prunable"):
        hwprune.plan(model, x, hw="dpu-b4096", budget=0.5)


def test_excluding_everything_is_nothing_prunable() -> None:
    with pytest.raises(NothingPrunableError, match="nothing is prunable"):
        hwprune.plan(Plain().eval(), X, hw="dpu-b4096", budget=0.5, excludes=("conv1", "conv2"))


def test_lowering_uses_the_one_registry_and_rejects_double_registration() -> None:
    from hwprune.errors import HwPruneError
    from hwprune.ir.handlers import register, table

    lower_table = table("lower")
    assert set(lower_table) == set(OpKind)  # every kind: priced, free or listed
    assert all(lower_table[k] is LOWERING[k] for k in LOWERING)
    with pytest.raises(HwPruneError, match="registered twice"):
        register("lower", OpKind.CONV)(lambda op, graph: None)


def test_a_kind_without_a_lowering_rule_is_listed_not_free(monkeypatch) -> None:
    from hwprune.ir import handlers

    monkeypatch.delitem(handlers._TABLES["lower"], OpKind.CONV)
    lowering = lower_graph(hwprune.trace(Plain().eval(), X))
    assert [(u.name, u.kind) for u in lowering.unmodelled] == [("conv1", "conv"), ("conv2", "conv")]
    assert "no lowering rule" in lowering.unmodelled[0].why
