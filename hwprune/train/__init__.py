"""Training utilities: datasets (digits, synthetic, Fashion-MNIST, image folders, user factories) and a
seeded train/evaluate loop.

Example:
    >>> from hwprune import models
    >>> from hwprune.train import digits_loaders, evaluate, train
    >>> train_loader, test_loader = digits_loaders(batch_size=64)
    >>> net = models.get("digits_cnn")
    >>> history = train(net, train_loader, epochs=3, lr=0.05)
    >>> evaluate(net, test_loader)   # about 0.97
"""

from __future__ import annotations

from hwprune.train.data import (
    DIGITS_CLASSES,
    digits_dataset,
    digits_loaders,
    synthetic_dataset,
    synthetic_loaders,
)
from hwprune.train.datasets import (
    FASHION_MNIST_DIR,
    DataBundle,
    factory_loaders,
    fashion_mnist_dataset,
    fashion_mnist_loaders,
    image_folder_dataset,
    image_folder_loaders,
    resolve_data,
)
from hwprune.train.device import init_distributed, is_distributed, is_main_process, resolve_device
from hwprune.train.idx import read_idx, write_idx
from hwprune.train.loop import OPTIMIZERS, SCHEDULERS, evaluate, train
from hwprune.train.weights import load_weights, read_state_dict

__all__ = [
    "DIGITS_CLASSES",
    "digits_dataset",
    "digits_loaders",
    "synthetic_dataset",
    "synthetic_loaders",
    "FASHION_MNIST_DIR",
    "DataBundle",
    "fashion_mnist_dataset",
    "fashion_mnist_loaders",
    "image_folder_dataset",
    "image_folder_loaders",
    "factory_loaders",
    "resolve_data",
    "read_idx",
    "resolve_device",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "load_weights",
    "read_state_dict",
    "write_idx",
    "train",
    "evaluate",
    "OPTIMIZERS",
    "SCHEDULERS",
]
