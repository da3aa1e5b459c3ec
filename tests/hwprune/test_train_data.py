"""Digits and synthetic datasets: shapes, determinism, stratification, normalisation, loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwprune.errors import TrainConfigError
from hwprune.train import digits_dataset, digits_loaders, synthetic_dataset, synthetic_loaders


def test_digits_shapes_and_split_sizes():
    train, test = digits_dataset("train"), digits_dataset("test")
    x, y = train.tensors
    assert x.shape == (1437, 1, 32, 32) and x.dtype == torch.float32
    assert y.shape == (1437,) and y.dtype == torch.int64
    assert len(test) == 360
    assert set(y.tolist()) == set(range(10))


def test_digits_is_deterministic_and_seed_changes_split():
    a, b = digits_dataset("test", seed=0), digits_dataset("test", seed=0)
    assert all(torch.equal(s, t) for s, t in zip(a.tensors, b.tensors, strict=True))
    c = digits_dataset("test", seed=1)
    assert not torch.equal(a.tensors[0], c.tensors[0])


def test_digits_split_is_stratified():
    y_train = digits_dataset("train").tensors[1].numpy()
    y_test = digits_dataset("test").tensors[1].numpy()
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    # every class keeps its share of the test set to within one sample
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - counts * 0.2) <= 1)


def test_digits_train_and_test_partition_the_dataset():
    from sklearn.datasets import load_digits

    raw = load_digits().images.reshape(-1, 64) / 16.0
    train = digits_dataset("train", size=8).tensors[0].reshape(-1, 64).double()
    test = digits_dataset("test", size=8).tensors[0].reshape(-1, 64).double()
    # both splits share one affine normalisation; raw pixels span exactly [0, 1] in the training split
    lo, hi = train.min(), train.max()
    rows = torch.cat([train, test]).sub(lo).div(hi - lo).numpy()

    def as_sorted(a):
        return sorted(map(tuple, np.round(a, 4)))

    assert as_sorted(rows) == as_sorted(raw)


def test_digits_normalisation_and_upscaling():
    x = digits_dataset("train", size=32).tensors[0]
    assert abs(float(x.mean())) < 1e-4
    assert abs(float(x.std()) - 1.0) < 1e-3
    small = digits_dataset("train", size=16).tensors[0]
    assert small.shape == (1437, 1, 16, 16)
    # bilinear upscaling keeps the image smooth: neighbouring pixels differ far less than the range
    assert float((x[:, :, 1:] - x[:, :, :-1]).abs().mean()) < 0.25 * float(x.max() - x.min())


def test_digits_loaders_channels_and_determinism():
    train, test = digits_loaders(batch_size=32, channels=3)
    xb, yb = next(iter(train))
    assert xb.shape == (32, 3, 32, 32) and yb.shape == (32,)
    assert torch.equal(xb[:, 0], xb[:, 2])
    assert len(test.dataset) == 360
    # the test loader keeps dataset order; the training loader shuffles under its own seed
    xt, _ = next(iter(test))
    assert torch.equal(xt, test.dataset.tensors[0][:32])
    again, _ = digits_loaders(batch_size=32, channels=3)
    assert torch.equal(next(iter(again))[1], yb)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"split": "val"}, "split"), ({"channels": 2}, "channels"), ({"size": 0}, "size")],
)
def test_digits_bad_arguments(kwargs, match):
    with pytest.raises(TrainConfigError, match=match):
        digits_dataset(**kwargs)


def test_synthetic_shapes_balance_and_determinism():
    ds = synthetic_dataset(100, num_classes=4, shape=(3, 16, 16), seed=5)
    x, y = ds.tensors
    assert x.shape == (100, 3, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert np.bincount(y.numpy(), minlength=4).tolist() == [25, 25, 25, 25]
    again = synthetic_dataset(100, num_classes=4, shape=(3, 16, 16), seed=5)
    assert torch.equal(x, again.tensors[0]) and torch.equal(y, again.tensors[1])
    assert not torch.equal(x, synthetic_dataset(100, 4, (3, 16, 16), seed=6).tensors[0])


def test_synthetic_train_and_test_share_classes_not_samples():
    train = synthetic_dataset(200, num_classes=2, shape=(1, 8, 8), seed=0, split="train", noise=0.0)
    test = synthetic_dataset(200, num_classes=2, shape=(1, 8, 8), seed=0, split="test", noise=0.0)
    assert not torch.equal(train.tensors[0], test.tensors[0])

    # with no noise, class means of train and test agree far better across splits than across classes
    def class_means(ds):
        x, y = ds.tensors
        return torch.stack([x[y == c].mean(0) for c in range(2)])

    mt, ms = class_means(train), class_means(test)
    same = (mt - ms).flatten(1).norm(dim=1)
    other = (mt - ms.flip(0)).flatten(1).norm(dim=1)
    assert torch.all(same < 0.5 * other)


def test_synthetic_loaders():
    train, test = synthetic_loaders(batch_size=16, n_train=64, n_test=32, num_classes=4, shape=(3, 8, 8))
    xb, yb = next(iter(train))
    assert xb.shape == (16, 3, 8, 8) and len(test.dataset) == 32


@pytest.mark.parametrize(
    ("args", "match"),
    [((0, 4), "n"), ((10, 4, (3, 8)), "shape"), ((10, 4, (3, 8, 8), 0, "dev"), "split")],
)
def test_synthetic_bad_arguments(args, match):
    with pytest.raises(TrainConfigError, match=match):
        synthetic_dataset(*args)
