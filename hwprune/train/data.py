"""Datasets that need no download: scikit-learn's bundled handwritten digits (upscaled) and seeded
synthetic image sets with class-dependent patterns.

Both are small enough to train on a laptop CPU in seconds, and deterministic under their seed, so
tests, examples and the default ``hwprune optimize`` job can use them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from hwprune.errors import TrainConfigError

# a loader over a TensorDataset: batches are [inputs, labels]
TensorLoader = DataLoader[tuple[torch.Tensor, ...]]
# a user's loader: any dataset whose batches are (inputs, labels)
AnyLoader = DataLoader[Any]

__all__ = [
    "DIGITS_CLASSES",
    "DIGITS_TEST_FRACTION",
    "digits_dataset",
    "digits_loaders",
    "synthetic_dataset",
    "synthetic_loaders",
]

DIGITS_CLASSES = 10
DIGITS_TEST_FRACTION = 0.2
_SPLITS = ("train", "test")


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise TrainConfigError(f"split must be 'train' or 'test', got {split!r}")


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TrainConfigError(f"{key} must be a positive int, got {value!r}")


@lru_cache(maxsize=8)
def _digits_split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/test split of the 1,797 8x8 digits; read-only arrays, cached per seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)
    parts = train_test_split(
        images,
        data.target.astype(np.int64),
        test_size=DIGITS_TEST_FRACTION,
        stratify=data.target,
        random_state=seed,
    )
    for a in parts:
        a.flags.writeable = False
    x_train, x_test, y_train, y_test = parts
    return x_train, y_train, x_test, y_test


def _upscale(images: np.ndarray, size: int) -> torch.Tensor:
    x = torch.from_numpy(images.copy()).unsqueeze(1)
    if size == images.shape[-1]:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def digits_dataset(split: str = "train", size: int = 32, seed: int = 0, channels: int = 1) -> TensorDataset:
    """scikit-learn's handwritten digits as an image dataset.

    The 8x8 images are scaled to [0, 1], upscaled to ``size`` x ``size`` with bilinear interpolation
    and standardised with the mean and standard deviation of the training split (so train and test
    share one normalisation). The split is a stratified 80/20 split fixed by ``seed``:
    1,437 training and 360 test images.

    Args:
        split: ``"train"`` or ``"test"``.
        size: Side of the output images.
        seed: Seed of the train/test split.
        channels: 1, or 3 to repeat the gray channel for nets with an RGB stem.

    Returns:
        A ``TensorDataset`` of float32 images ``(N, channels, size, size)`` and int64 labels ``(N,)``.

    Raises:
        TrainConfigError: Unknown split, non-positive size, or channels not 1 or 3.
    """
    _check_split(split)
    _check_positive(size=size)
    if channels not in (1, 3):
        raise TrainConfigError(f"digits have 1 channel (or 3 repeated ones), got channels={channels!r}")
    x_train, y_train, x_test, y_test = _digits_split(seed)
    x_np, y_np = (x_train, y_train) if split == "train" else (x_test, y_test)
    x = _upscale(x_np, size)
    ref = x if split == "train" else _upscale(x_train, size)
    x = (x - ref.mean()) / ref.std()
    if channels == 3:
        x = x.repeat(1, 3, 1, 1)
    return TensorDataset(x.contiguous(), torch.from_numpy(y_np.copy()))


def _loaders(
    train: TensorDataset, test: TensorDataset, batch_size: int, seed: int
) -> tuple[TensorLoader, TensorLoader]:
    _check_positive(batch_size=batch_size)
    gen = torch.Generator().manual_seed(seed)  # shuffling order depends on the seed only
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=gen),
        DataLoader(test, batch_size=batch_size, shuffle=False),
    )


def digits_loaders(
    batch_size: int = 64, size: int = 32, channels: int = 1, seed: int = 0
) -> tuple[TensorLoader, TensorLoader]:
    """Train and test loaders over ``digits_dataset``.

    Args:
        batch_size: Batch size of both loaders.
        size: Image side.
        channels: 1, or 3 (gray repeated) for ImageNet-style stems.
        seed: Seed of the split and of the training loader's shuffling.

    Returns:
        ``(train_loader, test_loader)``; the training loader shuffles with its own seeded generator,
        the test loader keeps the dataset order.
    """
    train = digits_dataset("train", size=size, seed=seed, channels=channels)
    test = digits_dataset("test", size=size, seed=seed, channels=channels)
    return _loaders(train, test, batch_size, seed)


def _prototypes(num_classes: int, shape: tuple[int, int, int], gen: torch.Generator) -> torch.Tensor:
    """One smooth random pattern per class: low-resolution noise upsampled, plus a colour bias."""
    c, h, w = shape
    coarse = torch.randn(num_classes, c, max(1, h // 8), max(1, w // 8), generator=gen)
    smooth = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    colour = torch.randn(num_classes, c, 1, 1, generator=gen) * 0.5
    return smooth + colour


def synthetic_dataset(
    n: int,
    num_classes: int = 10,
    shape: tuple[int, int, int] = (3, 32, 32),
    seed: int = 0,
    split: str = "train",
    noise: float = 1.0,
) -> TensorDataset:
    """A seeded, learnable synthetic image set.

    Each class has a smooth random prototype pattern (fixed by ``seed``); a sample is its class
    prototype times a random contrast in [0.5, 1.5], shifted by up to 2 pixels, plus Gaussian noise
    of standard deviation ``noise``. Classes are balanced (labels cycle through the classes, then are
    shuffled). ``split`` selects an independent sample stream over the same prototypes, so a
    ``"train"`` and a ``"test"`` set with one seed are drawn from the same distribution.

    Args:
        n: Number of samples.
        num_classes: Number of classes.
        shape: ``(C, H, W)`` of one image.
        seed: Seed of the prototypes and samples.
        split: ``"train"`` or ``"test"``.
        noise: Standard deviation of the additive noise (larger is harder).

    Returns:
        A ``TensorDataset`` of float32 images ``(n, *shape)`` and int64 labels ``(n,)``.
    """
    _check_split(split)
    _check_positive(n=n, num_classes=num_classes)
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise TrainConfigError(f"shape must be (C, H, W) of positive ints, got {shape!r}")
    if noise < 0:
        raise TrainConfigError(f"noise must be >= 0, got {noise!r}")
    protos = _prototypes(num_classes, shape, torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed * 2 + 1 + _SPLITS.index(split) * 1_000_003)
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=gen)]
    contrast = torch.rand(n, 1, 1, 1, generator=gen) + 0.5
    x = protos[labels] * contrast
    shifts = torch.randint(-2, 3, (n, 2), generator=gen)
    for i, (dy, dx) in enumerate(shifts.tolist()):  # n is small; a roll per sample keeps the code plain
        x[i] = torch.roll(x[i], shifts=(dy, dx), dims=(1, 2))
    x = x + noise * torch.randn(x.shape, generator=gen)
    return TensorDataset(x.contiguous(), labels.to(torch.int64))


def synthetic_loaders(
    batch_size: int = 64,
    n_train: int = 1024,
    n_test: int = 256,
    num_classes: int = 10,
    shape: tuple[int, int, int] = (3, 32, 32),
    seed: int = 0,
    noise: float = 1.0,
) -> tuple[TensorLoader, TensorLoader]:
    """Train and test loaders over ``synthetic_dataset`` (same prototypes, independent samples).

    Returns:
        ``(train_loader, test_loader)``; only the training loader shuffles (seeded).
    """
    train = synthetic_dataset(n_train, num_classes, shape, seed, "train", noise)
    test = synthetic_dataset(n_test, num_classes, shape, seed, "test", noise)
    return _loaders(train, test, batch_size, seed)
