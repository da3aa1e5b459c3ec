"""N:M masks: the one definition of how weights and activations are sparsified (planner, Vitis pruner).

Weight N:M runs along input channels: blocks of ``M`` consecutive input channels at one output channel
and kernel position keep their ``N`` largest magnitudes. Activation 2:4 keeps the two largest of every
four consecutive channels of a layer's input. Masks are parametrizations and pre-hooks, so masked
fine-tuning keeps the pattern; :func:`hwprune.vitis.sparse.export_sparse_model` bakes them in.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["ACT_BLOCK", "nm_mask", "activation_nm", "WeightMask", "ActivationSparsity"]

ACT_BLOCK = 4  # activation sparsity is 2:4 along input channels


def nm_mask(weight: torch.Tensor, keep: int, block: int) -> torch.Tensor:
    """Mask keeping the ``keep`` largest-magnitude entries of every ``block`` input channels.

    Args:
        weight: a Conv (``[out, in, *kernel]``) or Linear (``[out, in]``) weight; ``in`` must be a
            multiple of ``block``.
        keep: entries kept per block (N of N:M).
        block: block length along the input channels (M of N:M).

    Returns:
        A tensor of 0/1 of ``weight``'s shape and dtype.
    """
    out_ch, in_ch = weight.shape[:2]
    # input channels last, so blocks are consecutive input channels at one (out, kernel) position
    w = weight.detach().abs().movedim(1, -1).reshape(-1, in_ch // block, block)
    idx = torch.topk(w, keep, dim=-1, sorted=False).indices
    mask = torch.zeros_like(w).scatter_(-1, idx, 1.0)
    moved_shape = (out_ch, *weight.shape[2:], in_ch)
    return mask.reshape(moved_shape).movedim(-1, 1).contiguous().to(weight.dtype)


def activation_nm(x: torch.Tensor, keep: int = 2, block: int = ACT_BLOCK) -> torch.Tensor:
    """Zero all but the ``keep`` largest-magnitude of every ``block`` consecutive channels (dim 1).

    Gradients flow through the kept entries only (the mask is treated as a constant).
    """
    c = x.shape[1]
    moved = x.movedim(1, -1)
    blocks = moved.detach().abs().reshape(*moved.shape[:-1], c // block, block)
    idx = torch.topk(blocks, keep, dim=-1, sorted=False).indices
    mask = torch.zeros_like(blocks).scatter_(-1, idx, 1.0).reshape(moved.shape).movedim(-1, 1)
    return x * mask


class WeightMask(nn.Module):
    """Parametrization ``weight -> weight * mask``; the mask is a buffer, saved in the state_dict."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


class ActivationSparsity:
    """Forward pre-hook applying 2:4 activation sparsity to a layer's first input."""

    def __init__(self, keep: int = 2, block: int = ACT_BLOCK) -> None:
        self.keep = keep
        self.block = block

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (activation_nm(args[0], self.keep, self.block), *args[1:])
