"""hwprune optimize on the user's things: image folders, Fashion-MNIST files, --weights, --device."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import hwprune
from hwprune.cli import main
from hwprune.optimize import OptimizeConfig, optimize
from hwprune.train.datasets import FASHION_MNIST_FILES, resolve_data
from hwprune.train.idx import write_idx
from hwprune.train.loop import evaluate

FAST = ["--hw", "dpu-b1024", "--budget", "0.7", "--quiet"]


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _pngs(root, classes=3, per_class=6, size=20):
    """Learnable PNGs: class k is a bright square in corner k, plus noise."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k in range(classes):
            for i in range(per_class):
                img = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
                r, c = (k // 2) * size // 2, (k % 2) * size // 2
                img[r : r + size // 2, c : c + size // 2] = 230
                path = root / split / f"class_{k}" / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path)
    return root


def test_optimize_on_an_image_folder(workdir, capsys):
    root = _pngs(workdir / "pngs")
    args = [
        "optimize",
        "--model",
        "digits_cnn",
        "--data",
        f"imagefolder:{root}",
        "--epochs",
        "2",
        "--finetune-epochs",
        "1",
        "--out",
        "run",
        *FAST,
    ]
    # digits_cnn's classifier is sized for 32x32: the 20x20 images are refused before training
    assert main(args) == 2
    assert "digits_cnn does not accept the inputs of --data imagefolder:" in capsys.readouterr().err
    assert main([*args, "--input-size", "32"]) == 0
    metrics = json.loads((workdir / "run" / "metrics.json").read_text())
    # channels and classes come from the folder: RGB PNGs in 3 class folders (resized to --input-size)
    assert metrics["input_shape"] == [3, 32, 32] and metrics["num_classes"] == 3
    assert metrics["train_images"] == 18 and metrics["val_images"] == 18
    assert metrics["baseline_source"] == "trained" and metrics["device"] == "cpu"
    assert metrics["cycles"] <= int(0.7 * metrics["unpruned_cycles"])
    report = (workdir / "run" / "report.md").read_text()
    assert "- data: imagefolder:" in report
    assert "the board's cost per frame" in report  # a DPU plan states the speedup a board would see


def _fake_fashion(root, n_train=60, n_test=30):
    rng = np.random.default_rng(1)
    root.mkdir()
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        for i, y in enumerate(labels):  # a bright row per class: learnable
            images[i, 2 * y + 4] = 250
        write_idx(root / FASHION_MNIST_FILES[split][0], images)
        write_idx(root / FASHION_MNIST_FILES[split][1], labels)
    return root


def test_optimize_api_on_fashion_mnist_files(workdir):
    root = _fake_fashion(workdir / "fm")
    cfg = OptimizeConfig(
        model="digits_cnn",
        data="fashion-mnist",
        data_dir=str(root),
        train_subset=40,
        hw="dpu-b1024",
        budget="0.7",
        epochs=1,
        finetune_epochs=1,
        out="run",
        progress=False,
        device="cpu",
    )
    metrics = optimize(cfg)
    assert metrics["input_shape"] == [1, 32, 32] and metrics["num_classes"] == 10  # padded 28 -> 32
    assert metrics["train_images"] == 40 and metrics["val_images"] == 30  # subset; test set complete
    assert (
        json.loads((workdir / "run" / "metrics.json").read_text())["finetuned_accuracy"]
        == metrics["finetuned_accuracy"]
    )


def test_weights_skip_training_and_keep_the_checkpoint_accuracy(workdir, monkeypatch):
    torch.manual_seed(3)
    trained = hwprune.models.get("digits_cnn", num_classes=10, in_channels=1)
    bundle = resolve_data("digits", seed=0)
    hwprune.train.train(trained, bundle.train_loader, epochs=1, lr=0.05, progress=False)
    trained.eval()
    expected = evaluate(trained, bundle.val_loader)
    torch.save({"epoch": 1, "state_dict": trained.state_dict()}, workdir / "ckpt.pt")

    import hwprune.train.loop as loop

    def no_training(*a, **k):
        raise AssertionError("the baseline was retrained although --weights was given")

    monkeypatch.setattr(loop, "train", no_training)
    assert (
        main(
            [
                "optimize",
                "--model",
                "digits_cnn",
                "--weights",
                "ckpt.pt",
                "--epochs",
                "5",
                "--finetune-epochs",
                "0",
                "--device",
                "cpu",
                "--out",
                "run",
                *FAST,
            ]
        )
        == 0
    )
    metrics = json.loads((workdir / "run" / "metrics.json").read_text())
    assert metrics["baseline_source"] == "weights"
    assert metrics["baseline_accuracy"] == expected
    assert not (workdir / ".hwprune" / "cache").exists() or not any(
        (workdir / ".hwprune" / "cache").iterdir()
    )
    assert "baseline from --weights ckpt.pt (not trained)" in (workdir / "run" / "report.md").read_text()


def test_a_model_that_does_not_fit_the_data_is_refused_before_training(workdir, monkeypatch, capsys):
    (workdir / "narrow.py").write_text(
        "from torch import nn\n"
        "def make():\n"
        "    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))\n"
    )
    monkeypatch.syspath_prepend(str(workdir))
    import hwprune.train.loop as loop

    monkeypatch.setattr(loop, "train", lambda *a, **k: pytest.fail("training started"))
    assert main(["optimize", "--model", "narrow:make", "--epochs", "1", "--out", "run", *FAST]) == 2
    err = capsys.readouterr().err
    assert "outputs (1, 4) for one image, but --data digits has 10 classes" in err
    assert not (workdir / "run").exists()


def test_threads_sets_torch_threads_and_bad_counts_are_refused(workdir, capsys):
    from hwprune.errors import PruneConfigError
    from hwprune.optimize import validate

    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    try:
        validate(
            OptimizeConfig(model="digits_cnn", hw="dpu-b1024", budget="0.7", threads=want, progress=False)
        )
        assert torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)
    with pytest.raises(PruneConfigError, match="--threads must be an integer >= 1, got 0"):
        validate(OptimizeConfig(model="digits_cnn", threads=0))
    assert main(["optimize", "--threads", "0", "--out", "run", *FAST]) == 2
    assert "--threads" in capsys.readouterr().err
    assert not (workdir / "run").exists()


def test_unknown_loss_is_refused_before_any_work(workdir):
    from hwprune.errors import PruneConfigError
    from hwprune.optimize import validate

    with pytest.raises(PruneConfigError, match="--loss 'square': use one of log, linear"):
        validate(OptimizeConfig(model="digits_cnn", loss="square"))
    assert not (workdir / "runs").exists()
