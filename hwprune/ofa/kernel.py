"""Elastic kernel size (OFA): a conv's kernel shrinks to a centre crop of its full kernel.

Which convs: a 2-D ``nn.Conv2d`` module called once, with a square odd kernel ``K``, dilation 1,
zero padding ``K // 2`` on both sides (so the output keeps its size; as Vitis AI's OFA requires), not
excluded. Its choices are the sizes of ``kernel_sizes`` below ``K``, plus ``K`` itself (OFA's list
3/5/7 by default: a 7x7 conv offers 3, 5, 7; a 5x5 conv 3, 5; a 3x3 conv nothing). Sizes that buy
no latency on the hardware are then dropped (:func:`hwprune.ofa.costs.kernel_step_choices`).

What a smaller kernel computes (OFA's kernel transformation): going from one choice down to the next,
the centre crop of the current kernel is multiplied, per (output, input) channel pair, by a learned
``s*s x s*s`` matrix shared by the layer's channels (one matrix per step, identity at the start); the
``k x k`` kernel is the result of every step from ``K`` down to ``k``. Without the transform
(``kernel_transform=False``) it is the plain centre crop. The conv then runs with padding
``K // 2 - (K - k) // 2 = k // 2``: the same output size, and exactly the static conv the subnet
emits (:func:`crop_static`). Latency prices the cropped conv through the shared lowering
(:func:`hwprune.lower.lower.crop_kernel`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import fx, nn

from hwprune.errors import PruneConfigError
from hwprune.ir.graph import Graph
from hwprune.ir.kinds import OpKind

__all__ = [
    "ElasticKernel",
    "check_kernel_sizes",
    "find_elastic_kernels",
    "KernelCrop",
    "active_kernel",
    "crop_static",
    "DEFAULT_KERNEL_SIZES",
]

DEFAULT_KERNEL_SIZES = (3, 5, 7)  # OFA's kernel size list


@dataclass(frozen=True, slots=True)
class ElasticKernel:
    """A conv whose kernel size the supernet varies.

    Attributes:
        op: the IR op name (the setting's key).
        target: the conv module's path in the model.
        size: its full kernel size ``K``.
        padding: its padding (``K // 2``).
        choices: kernel sizes offered, ascending, the last equal to ``K``.
    """

    op: str
    target: str
    size: int
    padding: int
    choices: tuple[int, ...]


def check_kernel_sizes(kernel_sizes: object) -> tuple[int, ...] | None:
    """Validate ``kernel_sizes``: None (no elastic kernel) or a non-empty list of positive odd ints.

    Raises:
        PruneConfigError: empty, not ints, even or non-positive sizes.
    """
    if kernel_sizes is None:
        return None
    if isinstance(kernel_sizes, int) and not isinstance(kernel_sizes, bool):
        kernel_sizes = [kernel_sizes]
    if not isinstance(kernel_sizes, Sequence) or isinstance(kernel_sizes, str) or not kernel_sizes:
        raise PruneConfigError(
            "kernel_sizes must be None (no elastic kernel) or a non-empty list of odd kernel sizes such as "
            f"[3, 5, 7], got {kernel_sizes!r}"
        )
    for k in kernel_sizes:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
            raise PruneConfigError(
                f"kernel size {k!r} in kernel_sizes={list(kernel_sizes)!r} is not a positive odd int: a "
                "smaller kernel is the centre crop of the conv's kernel, so sizes must be odd (1, 3, 5, 7 ...)"
            )
    return tuple(sorted(set(kernel_sizes)))


def _pair(v: object) -> tuple[int, int] | None:
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, int) for i in v):
        return (int(v[0]), int(v[1]))
    return None


def find_elastic_kernels(
    graph: Graph, kernel_sizes: Sequence[int] | None, excludes: Sequence[str] = ()
) -> tuple[ElasticKernel, ...]:
    """The convs of ``graph`` that get kernel choices (see the module docstring), in graph order."""
    if not kernel_sizes:
        return ()
    calls: dict[str, int] = {}
    for op in graph.ops:
        if op.kind is OpKind.CONV:
            calls[op.target] = calls.get(op.target, 0) + 1
    out = []
    for op in graph.ops_of(OpKind.CONV):
        mod = graph.module(op.name)
        if type(mod) is not nn.Conv2d or calls.get(op.target, 0) != 1 or op.attr("weight_param"):
            continue
        if any(op.name == e or op.name.startswith(e + ".") or op.target == e for e in excludes):
            continue
        k, pad, dil = _pair(mod.kernel_size), _pair(mod.padding), _pair(mod.dilation)
        if k is None or pad is None or dil != (1, 1) or mod.padding_mode != "zeros":
            continue
        if k[0] != k[1] or k[0] % 2 == 0 or pad != (k[0] // 2, k[0] // 2):
            continue
        choices = tuple(sorted({s for s in kernel_sizes if s < k[0]} | {k[0]}))
        if len(choices) > 1:
            out.append(ElasticKernel(op.name, op.target, k[0], pad[0], choices))
    return tuple(out)


def _step(weight: torch.Tensor, size: int, matrix: torch.Tensor | None) -> torch.Tensor:
    """Centre crop of ``weight``'s last two dims to ``size``, times the step's transform (if any)."""
    m = (weight.shape[-1] - size) // 2
    w = weight[..., m : m + size, m : m + size]
    if matrix is None:
        return w
    return (w.reshape(*w.shape[:-2], size * size) @ matrix.t()).reshape(w.shape)


def active_kernel(
    weight: torch.Tensor,
    k: int,
    choices: Sequence[int],
    matrices: Sequence[torch.Tensor] | nn.ParameterList | None,
) -> torch.Tensor:
    """The ``k x k`` kernel of a full ``weight``: every step from the largest choice down to ``k``.

    Args:
        weight: ``(out, in/groups, K, K)`` with ``K == choices[-1]``.
        k: a choice.
        choices: the conv's kernel choices, ascending.
        matrices: the step transforms, ``matrices[i]`` maps to ``choices[i]`` (``len(choices) - 1``),
            or None for plain centre crops.
    """
    w = weight
    for i in range(len(choices) - 2, -1, -1):
        if choices[i] < k:
            break
        w = _step(w, choices[i], None if matrices is None else matrices[i])
    return w


class KernelCrop(nn.Module):
    """Parametrization ``weight -> its active k x k kernel`` (OFA's elastic kernel, with the transforms).

    The transforms (one ``s*s x s*s`` matrix per step down, identity at the start) are parameters of
    this module, so they train with the supernet and travel in its state_dict.

    Args:
        kernel: the conv's :class:`ElasticKernel`.
        transform: learn OFA's kernel transformation (else plain centre crops).
    """

    def __init__(self, kernel: ElasticKernel, transform: bool) -> None:
        super().__init__()
        self.choices = kernel.choices
        self.active = kernel.size
        self.transforms = (
            nn.ParameterList([nn.Parameter(torch.eye(s * s)) for s in kernel.choices[:-1]])
            if transform
            else None
        )

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.active == self.choices[-1]:
            return weight
        return active_kernel(weight, self.active, self.choices, self.transforms)


def crop_static(
    gm: fx.GraphModule, kernels: dict[str, tuple[int, int]], weights: dict[str, torch.Tensor] | None
) -> None:
    """Give the convs of an emitted model their cropped kernels, in place.

    Args:
        gm: the emitted (channel-pruned) model.
        kernels: module path -> (kernel size, padding) of each conv whose kernel is cropped.
        weights: module path -> the cropped (transformed) weight; None: plain centre crops (their values
            are replaced by a state_dict afterwards).
    """
    for target, (k, pad) in kernels.items():
        old = gm.get_submodule(target)
        if not isinstance(old, nn.Conv2d):
            raise PruneConfigError(
                f"{target!r} is a {type(old).__name__}, not the Conv2d its kernel crop expects"
            )
        w = weights[target] if weights is not None else _step(old.weight.detach(), k, None)
        new = nn.Conv2d(
            old.in_channels,
            old.out_channels,
            k,
            stride=cast(tuple[int, int], old.stride),
            padding=pad,
            dilation=cast(tuple[int, int], old.dilation),
            groups=old.groups,
            bias=old.bias is not None,
            padding_mode=old.padding_mode,
            device=old.weight.device,
            dtype=old.weight.dtype,
        )
        with torch.no_grad():
            new.weight.copy_(w)
            if old.bias is not None and new.bias is not None:
                new.bias.copy_(old.bias)
        new.train(old.training)
        new.weight.requires_grad_(old.weight.requires_grad)
        owner, _, leaf = target.rpartition(".")
        setattr(gm.get_submodule(owner) if owner else gm, leaf, new)
