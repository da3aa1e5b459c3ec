"""N:M masks: the one definition of how weights and activations are sparsified (planner, Vitis pruner).

Weight N:M runs along input channels: blocks of ``M`` consecutive input channels at one output channel
and kernel position keep their ``N`` largest magnitudes. Activation 2:4 keeps the two largest of every
four consecutive channels of a layer's input. Masks are parametrizations and pre-hooks, so masked
fine-tuning keeps the pattern; :func:`bake` multiplies them into plain weights.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils import parametrize

from hwmodel.workloads.layers import LayerSparsity, NMPattern

__all__ = [
    "ACT_BLOCK",
    "nm_mask",
    "activation_nm",
    "WeightMask",
    "ActivationSparsity",
    "bake",
    "has_masks",
    "mask_layer",
]

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
    """Parametrization ``weight -> weight * mask``; the mask is a buffer, saved in the state_dict.

    ``weight_nm`` announces an N:M pattern, so the frontend reads a masked layer's sparsity into the
    IR (``Op.sparsity``) without inspecting the mask; None for other masks (e.g. removed channels).
    """

    mask: torch.Tensor  # a registered buffer

    def __init__(self, mask: torch.Tensor, weight_nm: NMPattern | None = None) -> None:
        super().__init__()
        self.register_buffer("mask", mask)
        self.weight_nm = weight_nm

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


class ActivationSparsity:
    """Forward pre-hook applying 2:4 activation sparsity to a layer's first input.

    ``act_sparsity`` announces the sparsity to the frontend, as :attr:`WeightMask.weight_nm` does.
    """

    def __init__(self, keep: int = 2, block: int = ACT_BLOCK) -> None:
        self.keep = keep
        self.block = block
        self.act_sparsity = 1.0 - keep / block

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (activation_nm(args[0], self.keep, self.block), *args[1:])


def mask_layer(module: nn.Module, sparsity: LayerSparsity) -> None:
    """Put ``sparsity`` on a Conv/Linear ``module`` in place: an N:M weight mask and a 2:4 activation hook.

    Raises:
        ValueError: the module's input channels are not a multiple of the block size.
    """
    nm = sparsity.weight
    if nm is not None and not nm.dense:
        weight = module.weight
        if not isinstance(weight, torch.Tensor):
            raise ValueError(
                f"{type(module).__name__}.weight is a {type(weight).__name__}, not a tensor to mask"
            )
        if weight.shape[1] % nm.m:
            raise ValueError(f"{weight.shape[1]} input channels do not fit {nm} blocks")
        parametrize.register_parametrization(module, "weight", WeightMask(nm_mask(weight, nm.n, nm.m), nm))
    if sparsity.act:
        module.register_forward_pre_hook(
            ActivationSparsity(round(ACT_BLOCK * (1.0 - sparsity.act)), ACT_BLOCK)
        )


def has_masks(model: nn.Module) -> bool:
    """Whether any module of ``model`` carries a parametrization (an N:M mask)."""
    return any(parametrize.is_parametrized(m) for m in model.modules())


def _own_class(module: nn.Module) -> None:
    """Give a deep-copied parametrized module a class of its own.

    ``copy.deepcopy`` shares the per-instance class that torch's parametrize injects, and removing a
    parametrization deletes the property from that class: the original model would lose its weight.
    """
    cls = type(module)
    namespace = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    module.__class__ = type(cls.__name__, cls.__bases__, namespace)


def bake(model: nn.Module, keep_activation_sparsity: bool = True) -> nn.Module:
    """A copy of ``model`` with its masks multiplied into plain weights and the parametrizations gone.

    Args:
        model: a masked model (``hwprune.apply``, ``SparsePruner.sparse_model``, possibly fine-tuned);
            not modified.
        keep_activation_sparsity: keep the 2:4 activation pre-hooks (plain callables, not saved in
            the state_dict) so the copy computes what the masked model does; with False they are
            dropped and the hardware is expected to apply them.

    Returns:
        A deep copy whose state_dict has the original keys and zeros where the masks were.
    """
    out = copy.deepcopy(model)
    for module in out.modules():
        if parametrize.is_parametrized(module):
            _own_class(module)
            # the ModuleDict register_parametrization adds (tensor name -> its parametrizations)
            for tensor_name in list(cast(nn.ModuleDict, module.parametrizations).keys()):
                parametrize.remove_parametrizations(module, tensor_name, leave_parametrized=True)
        if not keep_activation_sparsity:
            for key, hook in list(module._forward_pre_hooks.items()):
                if isinstance(hook, ActivationSparsity):
                    del module._forward_pre_hooks[key]
    return out
