"""N:M fine-grained sparsity with Vitis AI's rules: ``SparsePruner.sparse_model`` / ``export_sparse_model``.

Weights of Conv2d and Linear layers are split into blocks of ``block_size`` consecutive input
channels (at every output channel and kernel position); in each block the largest-magnitude
``N = block_size * (1 - w_sparsity)`` weights are kept. The mask is a parametrization, so the
sparse model can be fine-tuned and keeps its pattern. Activation sparsity 0.5 keeps the 2 largest of
every 4 consecutive input channels of the layer's input (a forward pre-hook), as the DPU's sparse
engine does. Allowed, as in Vitis AI: weight sparsity 0, 0.5 or 0.75; activation sparsity 0 or 0.5,
the latter only with weight sparsity 0.75; block size 4, 8 or 16.

Layers that cannot take the pattern (input channels not a multiple of the block, grouped or
depthwise convolutions) are left dense and listed in :attr:`SparsePruner.report`, never silently.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hwmodel.config.sparse import SparseEngine
from hwmodel.workloads.layers import LayerSparsity, NMPattern
from hwprune.errors import ExcludeError, SparsityConfigError
from hwprune.transforms.nm import ACT_BLOCK, activation_nm, bake, mask_layer, nm_mask

__all__ = [
    "W_SPARSITIES",
    "A_SPARSITIES",
    "BLOCK_SIZES",
    "ACT_BLOCK",
    "check_sparsity",
    "nm_mask",
    "activation_nm",
    "SparseLayer",
    "SkippedLayer",
    "SparseReport",
    "SparsePruner",
    "export_sparse_model",
]

# Vitis AI's rules are the DPU sparse engine's: one definition, in hwmodel.config.sparse
_ENGINE = SparseEngine()
W_SPARSITIES = (0.0, *_ENGINE.weight_sparsities)
A_SPARSITIES = (0.0, *_ENGINE.act_sparsities)
BLOCK_SIZES = _ENGINE.block_sizes


def check_sparsity(w_sparsity: float, a_sparsity: float, block_size: int) -> None:
    """Enforce Vitis AI's sparsity rules.

    Raises:
        SparsityConfigError: a value is not allowed, or activation sparsity 0.5 is asked without
            weight sparsity 0.75.
    """
    if w_sparsity not in W_SPARSITIES:
        raise SparsityConfigError(f"w_sparsity={w_sparsity!r} is not supported; use one of {W_SPARSITIES}")
    if a_sparsity not in A_SPARSITIES:
        raise SparsityConfigError(f"a_sparsity={a_sparsity!r} is not supported; use one of {A_SPARSITIES}")
    need = _ENGINE.act_requires_weight_sparsity
    if a_sparsity and need is not None and w_sparsity != need:
        raise SparsityConfigError(
            f"a_sparsity={a_sparsity:g} needs w_sparsity={need:g} (got w_sparsity={w_sparsity}); the sparse "
            f"engine only runs 2:4 activations together with {need:.0%} weight sparsity"
        )
    if isinstance(block_size, bool) or block_size not in BLOCK_SIZES:
        raise SparsityConfigError(f"block_size={block_size!r} is not supported; use one of {BLOCK_SIZES}")


@dataclass(frozen=True, slots=True)
class SparseLayer:
    """A layer given a sparse pattern: weight ``n``:``m`` and activation sparsity."""

    name: str
    n: int
    m: int
    a_sparsity: float


@dataclass(frozen=True, slots=True)
class SkippedLayer:
    """A Conv/Linear layer left dense, and why."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class SparseReport:
    """What :meth:`SparsePruner.sparse_model` did, layer by layer."""

    w_sparsity: float
    a_sparsity: float
    block_size: int
    sparse: tuple[SparseLayer, ...]
    skipped: tuple[SkippedLayer, ...]
    excluded: tuple[str, ...]

    def to_markdown(self) -> str:
        """A readable table of sparse and skipped layers."""
        lines = [
            f"Sparsity: weights {self.w_sparsity}, activations {self.a_sparsity}, block {self.block_size}",
            "",
            "| layer | status |",
            "|---|---|",
        ]
        lines += [f"| {s.name} | {s.n}:{s.m} weights, activations {s.a_sparsity} |" for s in self.sparse]
        lines += [f"| {s.name} | dense: {s.reason} |" for s in self.skipped]
        lines += [f"| {name} | dense: excluded |" for name in self.excluded]
        return "\n".join(lines) + "\n"


def _resolve_excludes(model: nn.Module, excludes: Iterable[str | nn.Module] | None) -> set[str]:
    """Module names of ``excludes`` (names or module objects), each checked to exist."""
    names = {name for name, _ in model.named_modules() if name}
    by_id = {id(m): name for name, m in model.named_modules() if name}
    out: set[str] = set()
    for item in excludes or ():
        if isinstance(item, nn.Module):
            if id(item) not in by_id:
                raise ExcludeError(
                    f"exclude {type(item).__name__} object is not a submodule of the model; pass "
                    "modules of the model given to SparsePruner, or their names"
                )
            out.add(by_id[id(item)])
        elif isinstance(item, str):
            if item not in names:
                close = difflib.get_close_matches(item, sorted(names), n=3)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ExcludeError(f"exclude {item!r} names no module of the model{hint}")
            out.add(item)
        else:
            raise ExcludeError(f"exclude {item!r} is neither a module name nor a module")
    return out


def _why_dense(module: nn.Module, block: int, a_sparsity: float) -> str | None:
    if isinstance(module, nn.Conv2d) and module.groups != 1:
        return f"grouped convolution (groups={module.groups}): no input-channel blocks to sparsify"
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    in_ch = weight.shape[1]
    if in_ch % block:
        return f"{in_ch} input channels are not a multiple of block_size {block}"
    if a_sparsity and in_ch % ACT_BLOCK:
        return f"{in_ch} input channels are not a multiple of {ACT_BLOCK} for activation sparsity"
    return None


class SparsePruner:
    """Fine-grained N:M sparsity for a model, Vitis AI style.

    Args:
        model: the model; never modified (each call works on a deep copy).
        inputs: example input tensor(s), used to check that the model and the sparse model run.
    """

    def __init__(self, model: nn.Module, inputs: torch.Tensor | Sequence[torch.Tensor]) -> None:
        self.model = model
        self.inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
        self.report: SparseReport | None = None

    def sparse_model(
        self,
        w_sparsity: float = 0.5,
        a_sparsity: float = 0.0,
        block_size: int = 16,
        excludes: Iterable[str | nn.Module] | None = None,
    ) -> nn.Module:
        """A deep copy of the model with N:M weight masks (and 2:4 activation masks if asked).

        Args:
            w_sparsity: fraction of weights zeroed per block: 0, 0.5 or 0.75.
            a_sparsity: fraction of input activations zeroed: 0 or 0.5 (needs ``w_sparsity=0.75``).
            block_size: consecutive input channels per block: 4, 8 or 16.
            excludes: module names (or modules) to leave dense.

        Returns:
            The sparse model, ready for masked fine-tuning. :attr:`report` lists what was done.

        Raises:
            SparsityConfigError: the combination breaks Vitis AI's rules.
            ExcludeError: an exclude names no module of the model.
        """
        check_sparsity(w_sparsity, a_sparsity, block_size)
        excluded = _resolve_excludes(self.model, excludes)
        sparse = copy.deepcopy(self.model)
        keep = round(block_size * (1 - w_sparsity))
        done: list[SparseLayer] = []
        skipped: list[SkippedLayer] = []
        for name, module in sparse.named_modules():
            if not isinstance(module, (nn.Conv2d, nn.Linear)) or name in excluded:
                continue
            why = _why_dense(module, block_size, a_sparsity)
            if why is not None:
                skipped.append(SkippedLayer(name, why))
                continue
            mask_layer(module, LayerSparsity(NMPattern(keep, block_size) if w_sparsity else None, a_sparsity))
            done.append(SparseLayer(name, keep, block_size, a_sparsity))
        self.report = SparseReport(
            w_sparsity, a_sparsity, block_size, tuple(done), tuple(skipped), tuple(sorted(excluded))
        )
        with torch.no_grad():
            was_training = sparse.training
            sparse.eval()
            sparse(*self.inputs)
            sparse.train(was_training)
        return sparse

    def export_sparse_model(self, model: nn.Module, keep_activation_sparsity: bool = True) -> nn.Module:
        """See :func:`export_sparse_model`."""
        return export_sparse_model(model, keep_activation_sparsity)


def export_sparse_model(model: nn.Module, keep_activation_sparsity: bool = True) -> nn.Module:
    """Vitis AI's name for :func:`hwprune.transforms.nm.bake`: masks multiplied into plain weights.

    Args:
        model: a model returned by :meth:`SparsePruner.sparse_model` (possibly fine-tuned);
            not modified.
        keep_activation_sparsity: keep the 2:4 activation pre-hooks (plain callables, not saved in
            the state_dict) so the exported model computes what the sparse one does; with False
            they are dropped and the hardware is expected to apply them.

    Returns:
        A deep copy whose state_dict has the original keys and zeros where the masks were.
    """
    return bake(model, keep_activation_sparsity)
