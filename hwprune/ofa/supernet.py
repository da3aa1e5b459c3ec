"""The supernet: a copy of the user's model whose subnets are selected by channel masks.

Every conv/linear weight that consumes an elastic group's channels gets a parametrization
``weight -> weight * mask``; the mask (a buffer, kept out of the state_dict) zeroes the input
channels a subnet removes. All subnets share the full weights, a removed channel influences nothing
(so its producer gets no gradient from that subnet), and in eval mode a subnet computes exactly what
its static slim model computes (:func:`hwprune.ofa.static.static_subnet`, tested to rtol 1e-5).
A skipped residual block's branch output is multiplied by zero (see :mod:`hwprune.ofa.depth`).
An elastic-kernel conv's weight is further parametrized by :class:`hwprune.ofa.kernel.KernelCrop`
(the active centre crop, OFA's kernel transform) and its padding follows the active kernel.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from hwprune.errors import SpecError
from hwprune.ofa.depth import DepthGate
from hwprune.ofa.kernel import KernelCrop
from hwprune.ofa.space import SearchSpace

__all__ = ["OFASupernet", "ChannelMask", "raw_state_dict", "weights_state", "kernel_matrices"]


class ChannelMask(nn.Module):
    """Parametrization ``weight -> weight * mask``; the mask's first two dims are the weight's."""

    mask: torch.Tensor  # a buffer

    def __init__(self, rows: int, cols: int, ndim: int) -> None:
        super().__init__()
        self.register_buffer("mask", torch.ones((rows, cols) + (1,) * (ndim - 2)), persistent=False)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


def _owner(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    mod, _, name = path.rpartition(".")
    return (model.get_submodule(mod) if mod else model), name


class OFASupernet(nn.Module):
    """A once-for-all supernet over a private copy of a model.

    Args:
        model: the model to copy (never changed).
        space: the search space (elastic groups, their choices and mask sites; elastic kernels).
        kernel_transform: learn OFA's kernel transformation matrices (else plain centre crops); default:
            as recorded in the space's identity.

    Attributes:
        model: the copy holding the shared weights (parametrized).
        space: the search space.
    """

    def __init__(self, model: nn.Module, space: SearchSpace, kernel_transform: bool | None = None) -> None:
        super().__init__()
        self.model = copy.deepcopy(model)
        self.space = space
        if kernel_transform is None:  # as the space was built (a worker rebuilding it gets the same)
            kernel_transform = bool(space.identity.get("kernel_transform", True))
        self.kernel_transform = kernel_transform
        params = dict.fromkeys(site.param for g in space.groups for site in g.sites)
        self._masks: dict[str, ChannelMask] = {}
        for path in params:
            owner, name = _owner(self.model, path)
            w = getattr(owner, name)
            site = next(s for g in space.groups for s in g.sites if s.param == path)
            cm = ChannelMask(site.rows, site.cols, w.dim())
            parametrize.register_parametrization(owner, name, cm, unsafe=True)
            self._masks[path] = cm
        self._crops: list[tuple[KernelCrop, nn.Conv2d]] = []
        for ek in space.kernels:  # after the channel mask: the crop sees the masked full kernel
            conv = self.model.get_submodule(ek.target)
            assert isinstance(conv, nn.Conv2d)  # find_elastic_kernels picks Conv2d modules only
            crop = KernelCrop(ek, kernel_transform)
            parametrize.register_parametrization(conv, "weight", crop, unsafe=True)
            self._crops.append((crop, conv))
        self._gates: list[DepthGate] = []
        for blk in space.blocks:  # elastic depth: the block's last op is gated to zero when skipped
            gate = DepthGate()
            self.model.get_submodule(blk.gate).register_forward_hook(gate)
            self._gates.append(gate)
        self._code = space.max_code()
        self.set_code(self._code)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    # ----------------------------------------------------------------------------- subnets
    @property
    def code(self) -> np.ndarray:
        """Choice index per elastic group of the active subnet."""
        return self._code.copy()

    def setting(self) -> dict[str, dict[str, int]]:
        """The active subnet's setting (``{"width": {group key: kept channels}, ...}``)."""
        return self.space.setting(self._code)

    def set_setting(self, setting: Mapping[str, Any]) -> OFASupernet:
        """Activate the subnet of a setting; returns self."""
        return self.set_code(self.space.code(setting))

    @torch.no_grad()
    def set_code(self, code: Any) -> OFASupernet:
        """Activate the subnet of a choice-index code; returns self."""
        code = np.asarray(code, dtype=np.int64)
        if code.shape != (len(self.space.n_choices()),):
            raise SpecError(
                f"a subnet code has one entry per elastic group and block "
                f"({len(self.space.n_choices())}), got shape {code.shape}"
            )
        flat: dict[str, torch.Tensor] = {}
        n, nk = len(self.space.groups), len(self.space.kernels)
        for gate, c in zip(self._gates, code[n + nk :], strict=True):
            gate.skip = int(c) == 0
        for ek, (crop, conv), c in zip(self.space.kernels, self._crops, code[n : n + nk], strict=True):
            crop.active = ek.choices[int(c)]
            p = ek.padding - (ek.size - crop.active) // 2  # same output size as the full kernel
            conv.padding = (p, p)
        for g, c in zip(self.space.groups, code[:n], strict=True):
            k = g.choices[int(c)]
            if k == g.size:
                continue
            for site in g.sites:
                m = flat.get(site.param)
                if m is None:
                    m = flat[site.param] = torch.ones(site.rows * site.cols)
                m[torch.from_numpy(site.flat[site.offsets[k] :])] = 0.0
        for path, cm in self._masks.items():
            m = flat.get(path)
            cm.mask.fill_(1.0) if m is None else cm.mask.copy_(m.view(cm.mask.shape))
        self._code = code.copy()
        return self


def raw_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict of a (parametrized) model under the plain names: ``x.parametrizations.weight.original``
    becomes ``x.weight``; parametrization buffers are left out."""
    out = {}
    for key, value in module.state_dict().items():
        if ".parametrizations." in key or key.startswith("parametrizations."):
            head, _, tail = key.partition("parametrizations.")
            name, _, rest = tail.partition(".")
            if rest != "original":
                continue
            key = f"{head}{name}"
        out[key] = value
    return out


def weights_state(supernet: OFASupernet) -> dict[str, torch.Tensor]:
    """What the supernet has learned: :func:`raw_state_dict` of its model plus the kernel transforms
    (``kernel_transform.<conv>.<step>``; none without elastic kernels, so a width-only supernet's
    weights hash is what it always was)."""
    out = raw_state_dict(supernet.model)
    for ek, (crop, _) in zip(supernet.space.kernels, supernet._crops, strict=True):
        for i, m in enumerate(crop.transforms or ()):
            out[f"kernel_transform.{ek.target}.{i}"] = m
    return out


def kernel_matrices(supernet: OFASupernet, op: str) -> tuple[tuple[int, ...], list[torch.Tensor] | None]:
    """(choices, transform matrices or None) of an elastic-kernel conv of the supernet."""
    for ek, (crop, _) in zip(supernet.space.kernels, supernet._crops, strict=True):
        if ek.op == op:
            return ek.choices, None if crop.transforms is None else [m.detach() for m in crop.transforms]
    raise SpecError(f"{op!r} is not an elastic-kernel conv of this supernet")
