"""Smaller honesty fixes: training checkpoints and resumes, the cache folder falls back when the
working directory is read-only, plain log lines off a terminal, cycle-mode progress, .sens reuse
checks the eval function, report.md names the run, --hw files do not nest the run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import hwprune
from hwprune.errors import StaleFileError
from hwprune.train.loop import train
from tests.hwprune import vitis_support as vs


def _toy():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y),
        batch_size=16,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    return loader


def _net():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_training_checkpoints_every_epoch_and_resumes_to_the_same_weights(tmp_path) -> None:
    loader = _toy()
    straight = _net()
    train(straight, loader, 4, lr=0.1, progress=False, seed=3)

    ckpt = tmp_path / "base.ckpt"
    seen = []

    def stop_after_two(epoch, stats):
        seen.append(ckpt.is_file())
        return epoch == 1  # "killed" after epoch 2's checkpoint was written

    first = _net()
    train(first, loader, 4, lr=0.1, progress=False, seed=3, checkpoint=ckpt, callback=stop_after_two)
    assert seen == [True, True] and ckpt.is_file()  # stopped early: the checkpoint stays
    resumed = _net()  # a fresh process: new model, resumes from epoch 3
    epochs_run = []
    hist = train(
        resumed,
        loader,
        4,
        lr=0.1,
        progress=False,
        seed=3,
        checkpoint=ckpt,
        callback=lambda e, s: epochs_run.append(e),
    )
    assert epochs_run == [2, 3] and hist["epochs"] == 4 and not ckpt.exists()
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_foreign_checkpoint_is_a_clear_error(tmp_path) -> None:
    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(hwprune.errors.TrainConfigError, match="cannot be resumed"):
        train(_net(), _toy(), 2, progress=False, checkpoint=ckpt)


def test_plain_epoch_lines_when_not_on_a_terminal(capsys) -> None:
    train(_net(), _toy(), 2, lr=0.1, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err] == ["[hwprune] epoch 1/2", "[hwprune] epoch 2/2"]


def test_cache_dir_falls_back_to_the_user_cache(tmp_path, monkeypatch) -> None:
    from hwprune.optimize import default_cache_dir

    monkeypatch.chdir(tmp_path)
    assert default_cache_dir() == Path(".hwprune") / "cache"
    (tmp_path / ".hwprune").write_text("")  # .hwprune cannot become a folder here
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "hwprune"


def test_cycle_mode_reports_progress(monkeypatch) -> None:
    import hwmodel.api

    monkeypatch.setattr(hwmodel.api, "PROGRESS_EVERY_S", 0.0)
    lines: list[str] = []
    layers = [hwmodel.Layer.conv(f"c{i}", 10, 10, 8, 8, 3) for i in range(3)]
    rep = hwmodel.simulate(layers, "dpu-b1024", progress=lines.append)
    assert len(lines) == 3 and "layer 3/3 c2" in lines[-1] and f"{rep.layers[-1].total_cycles:,}" in lines[-1]


def test_sens_made_with_another_eval_fn_is_not_reused(tmp_path) -> None:
    def runner():
        return hwprune.get_pruning_runner(
            vs.trained_digits_cnn(),
            vs.example_input(),
            "iterative",
            workdir=tmp_path,
            backend="serial",
            progress=False,
        )

    runner().ana(vs.accuracy, args=(vs.eval_batches(),), ratios=(0.5,))
    doc = json.loads((tmp_path / "DigitsCNN.sens").read_text())
    assert doc["config"]["eval_fn"] == "tests.hwprune.vitis_support.accuracy" and doc["config"]["weights"]
    with pytest.raises(StaleFileError, match="FlakyEval"):
        runner().ana(vs.FlakyEval(), args=(vs.eval_batches(),), ratios=(0.5,))
    # a lambda cannot be identified: the file is not reused silently, it says so
    runner().ana(lambda m, b: 1.0, args=(vs.eval_batches(),), ratios=(0.5,), forced=True)
    with pytest.warns(UserWarning, match="is a lambda"):
        runner().ana(lambda m, b: 1.0, args=(vs.eval_batches(),), ratios=(0.5,))


def test_hw_file_does_not_nest_the_default_run_folder() -> None:
    from hwprune.cli import _hw_label

    assert _hw_label("configs/my.cfg") == "my" and _hw_label("dpu-b4096") == "dpu-b4096"
