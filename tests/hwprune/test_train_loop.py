"""The training loop: digits_cnn learns digits, synthetic data is learnable, hooks and seeding work,
and nothing but the model is changed."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hwprune import models
from hwprune.errors import TrainConfigError
from hwprune.train import digits_loaders, evaluate, synthetic_loaders, train


def _tiny_net(cin: int = 3, classes: int = 4) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(cin, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, classes),
    )


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_loaders(batch_size=32, n_train=256, n_test=128, num_classes=4, shape=(3, 16, 16), seed=0)


def test_digits_cnn_reaches_90_percent():
    train_loader, test_loader = digits_loaders(batch_size=64)
    torch.manual_seed(0)
    net = models.get("digits_cnn")
    history = train(net, train_loader, epochs=2, lr=0.05, progress=False)
    assert history["epochs"] == 2 and history["steps"] == 2 * len(train_loader)
    assert history["loss"][-1] < history["loss"][0]
    assert evaluate(net, test_loader) > 0.90


def test_synthetic_is_learnable(synthetic):
    train_loader, test_loader = synthetic
    torch.manual_seed(0)
    net = _tiny_net()
    before = evaluate(net, test_loader)
    train(net, train_loader, epochs=3, lr=0.05, progress=False)
    after = evaluate(net, test_loader)
    assert after > 0.6 > before + 0.1  # chance is 0.25


def test_post_step_and_callback_are_called(synthetic):
    train_loader, _ = synthetic
    net, calls, epochs_seen = _tiny_net(), [], []

    def post_step(model):
        assert model is net and model.training
        calls.append(1)

    def callback(epoch, stats):
        epochs_seen.append(epoch)
        assert set(stats) == {"loss", "accuracy", "lr"} and 0 <= stats["accuracy"] <= 1

    history = train(net, train_loader, epochs=2, post_step=post_step, callback=callback, progress=False)
    assert len(calls) == history["steps"] == 2 * len(train_loader)
    assert epochs_seen == [0, 1]


def test_post_step_can_reapply_a_mask(synthetic):
    train_loader, _ = synthetic
    net = _tiny_net()
    conv = net[0]
    mask = torch.ones_like(conv.weight)
    mask[:, :, 0, :] = 0
    with torch.no_grad():
        conv.weight.mul_(mask)

    def remask(model):
        with torch.no_grad():
            model[0].weight.mul_(mask)

    train(net, train_loader, epochs=1, post_step=remask, progress=False)
    assert torch.count_nonzero(conv.weight[:, :, 0, :]) == 0
    assert torch.count_nonzero(conv.weight[:, :, 1:, :]) > 0


def test_callback_stops_early(synthetic):
    history = train(_tiny_net(), synthetic[0], epochs=5, callback=lambda e, s: e == 1, progress=False)
    assert history["epochs"] == 2 and history["stopped_early"]


def test_training_is_seeded_and_leaves_rng_and_loader_alone(synthetic):
    train_loader, _ = synthetic
    gen_state = train_loader.generator.get_state()
    torch.manual_seed(42)
    expected = torch.rand(4)
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        net = _tiny_net()
        torch.manual_seed(42)
        train(net, train_loader, epochs=1, optimizer="adam", lr=1e-2, seed=7, progress=False)
        assert torch.equal(torch.rand(4), expected)  # global RNG untouched
        results.append(net.state_dict())
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])
    assert torch.equal(train_loader.generator.get_state(), gen_state)
    torch.manual_seed(0)
    other = _tiny_net()
    train(other, train_loader, epochs=1, optimizer="adam", lr=1e-2, seed=8, progress=False)
    assert not torch.equal(other[0].weight, results[0]["0.weight"])


def test_modes_restored_and_scheduler_anneals(synthetic):
    train_loader, test_loader = synthetic
    net = _tiny_net().eval()
    history = train(
        net, train_loader, epochs=2, lr=0.1, scheduler="cosine", steps_per_epoch=3, progress=False
    )
    assert not net.training
    assert history["steps"] == 6
    assert history["lr"][0] < 0.1 and history["lr"][-1] == pytest.approx(0.0, abs=1e-9)
    net.train()
    evaluate(net, test_loader)
    assert net.training
    flat = train(
        _tiny_net(), train_loader, epochs=1, lr=0.1, scheduler=None, steps_per_epoch=2, progress=False
    )
    assert flat["lr"] == [0.1]


def test_evaluate_matches_a_manual_count():
    x = torch.randn(10, 3, 4, 4)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    net = _tiny_net().eval()
    with torch.no_grad():
        manual = float((net(x).argmax(1) == y).float().mean())
    assert evaluate(net, DataLoader(TensorDataset(x, y), batch_size=3)) == pytest.approx(manual)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "lion"}, "optimizer.*sgd"),
        ({"scheduler": "step"}, "scheduler.*cosine"),
        ({"epochs": -1}, "epochs"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_bad_arguments(synthetic, kwargs, match):
    args = {"epochs": 1, **kwargs}
    with pytest.raises(TrainConfigError, match=match):
        train(_tiny_net(), synthetic[0], progress=False, **args)


def test_divergence_and_empty_loader_are_reported(synthetic):
    with pytest.raises(TrainConfigError, match="diverged"):
        train(
            _tiny_net(),
            synthetic[0],
            epochs=1,
            lr=1e6,
            optimizer="sgd",
            progress=False,
            loss_fn=lambda out, y: out.sum() * float("inf"),
        )
    empty = DataLoader(
        TensorDataset(torch.zeros(0, 3, 4, 4), torch.zeros(0, dtype=torch.int64)), batch_size=2
    )
    with pytest.raises(TrainConfigError, match="no batches"):
        evaluate(_tiny_net(), empty)
