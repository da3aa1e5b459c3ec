"""Shared helpers of the Vitis workflow tests: a small trained digits CNN, eval and fine-tune functions.

Importable by reference (``tests.hwprune.vitis_support``), so the functions also reach forked workers.
Digits at 8x8 keep every evaluation in the millisecond range.
"""

from __future__ import annotations

import copy
import time
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

import hwprune.models as models
from hwprune.train.data import digits_loaders

SIZE = 8


@lru_cache(maxsize=1)
def _data() -> tuple[list, list]:
    train, test = digits_loaders(batch_size=128, size=SIZE, seed=0)
    return [(x, y) for x, y in train], [(x, y) for x, y in test]


def train_batches() -> list:
    """Fixed training batches (a list: the same order on every call)."""
    return _data()[0]


def eval_batches() -> list:
    """The test split as fixed batches."""
    return _data()[1]


@lru_cache(maxsize=1)
def _trained_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = models.get("digits_cnn", num_classes=10, in_channels=1, input_size=SIZE)
    finetune(model, train_batches(), epochs=2, lr=1e-2)
    return {k: v.clone() for k, v in model.state_dict().items()}


def trained_digits_cnn() -> nn.Module:
    """A fresh copy of the trained digits CNN (eval mode)."""
    model = models.get("digits_cnn", num_classes=10, in_channels=1, input_size=SIZE)
    model.load_state_dict(_trained_state())
    return model.eval()


def example_input() -> torch.Tensor:
    return torch.zeros(1, 1, SIZE, SIZE)


def accuracy(model: nn.Module, batches: list) -> float:
    """Top-1 accuracy over ``batches``."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def finetune(model: nn.Module, batches: list, epochs: int = 1, lr: float = 3e-3) -> None:
    """Deterministic Adam fine-tuning over fixed batches (same result on every call)."""
    torch.manual_seed(1)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(epochs):
        for x, y in batches:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()


class Interrupt(Exception):
    """Raised by :class:`FlakyEval` to simulate a crash that is not the eval function's fault."""


class FlakyEval:
    """An eval function that counts calls and, after ``fail_after`` calls, raises ``exc``; ``delay``
    seconds of sleep per call make a run slow enough to be killed mid-way."""

    def __init__(
        self, fail_after: int | None = None, exc: type[BaseException] = KeyboardInterrupt, delay: float = 0.0
    ) -> None:
        self.calls = 0
        self.fail_after = fail_after
        self.exc = exc
        self.delay = delay

    def __call__(self, model: nn.Module, batches: list) -> float:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise self.exc("simulated interruption")
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return accuracy(model, batches)


def copy_model(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)
