"""Random small CNNs built from every coupling pattern: pruning must always equal the masked model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.hwprune.fe_support import check_model


class Block(nn.Module):
    """One randomly chosen pattern mapping ``cin`` channels to ``self.cout``."""

    def __init__(self, kind: str, cin: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.kind = kind
        w = int(rng.integers(2, 5)) * 2
        if kind == "conv":
            self.f = nn.Sequential(nn.Conv2d(cin, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU())
            self.cout = w
        elif kind == "residual":
            self.f = nn.Sequential(
                nn.Conv2d(cin, cin, 1), nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cin, 3, padding=1)
            )
            self.cout = cin
        elif kind == "depthwise":
            self.f = nn.Sequential(
                nn.Conv2d(cin, cin, 3, padding=1, groups=cin), nn.BatchNorm2d(cin), nn.ReLU6()
            )
            self.cout = cin
        elif kind == "grouped":
            g = 2
            self.pre = nn.Conv2d(cin, 2 * g, 1)
            self.f = nn.Conv2d(2 * g, 3 * g, 3, padding=1, groups=g)
            self.cout = 3 * g
        elif kind == "concat":
            self.a = nn.Conv2d(cin, w, 1)
            self.b = nn.Conv2d(cin, w // 2, 3, padding=1)
            self.cout = cin + w + w // 2
        elif kind == "swap":
            self.f = nn.Conv2d(cin, w, 1)
            self.cout = w
        elif kind == "se":
            self.f = nn.Conv2d(cin, w, 1)
            self.s1 = nn.Conv2d(w, 2, 1)
            self.s2 = nn.Conv2d(2, w, 1)
            self.cout = w
        elif kind == "shuffle":
            self.f = nn.Conv2d(cin, w, 1)
            self.cout = w
        elif kind == "pool":
            self.cout = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kind
        if k in ("conv", "depthwise", "swap", "shuffle"):
            y = self.f(x)
            if k == "swap":
                a, b = y.chunk(2, dim=1)
                y = torch.cat([b, a], dim=1)
            if k == "shuffle":
                n, c, h, w = y.shape
                y = y.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
            return y
        if k == "residual":
            return F.relu(x + self.f(x))
        if k == "grouped":
            return self.f(self.pre(x))
        if k == "concat":
            return torch.cat([x, self.a(x), torch.relu(self.b(x))], 1)
        if k == "se":
            y = self.f(x)
            return y * torch.sigmoid(self.s2(F.relu(self.s1(y.mean((2, 3), keepdim=True)))))
        return F.max_pool2d(x, 2)


class RandomNet(nn.Module):
    KINDS = ("conv", "residual", "depthwise", "grouped", "concat", "swap", "se", "shuffle", "pool")

    def __init__(self, seed: int) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        c, hw = 6, 8
        blocks = []
        for _ in range(int(rng.integers(3, 7))):
            kind = str(rng.choice(self.KINDS))
            if kind == "pool":
                if hw < 4:
                    continue
                hw //= 2
            b = Block(kind, c, rng)
            blocks.append(b)
            c = b.cout
        self.blocks = nn.Sequential(*blocks)
        self.flatten_head = bool(rng.integers(0, 2))
        self.head = nn.Linear(c * (4 if self.flatten_head else 1), 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.stem(x))
        if self.flatten_head:
            return self.head(torch.flatten(F.adaptive_avg_pool2d(y, 2), 1))
        return self.head(y.mean((2, 3)))


@pytest.mark.parametrize("seed", range(24))
def test_random_net_prunes_exactly(seed: int) -> None:
    torch.manual_seed(seed)
    model = RandomNet(seed)
    for m in model.modules():  # non-trivial BN statistics, so a slicing bug shows in the output
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()
    check_model(model, torch.randn(2, 3, 8, 8), seed=seed)
