"""What both Vitis runners share: the model view, the work folder, budgets, specs and slim models."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from hwprune.errors import PruneConfigError
from hwprune.io import atomic_write_text
from hwprune.runtime.parallel import Backend, get_backend, shares_memory
from hwprune.runtime.store import ResultStore
from hwprune.transforms.nm import bake, has_masks
from hwprune.vitis import specfile
from hwprune.vitis.sampling import relative_target
from hwprune.vitis.sensitivity import Sensitivity
from hwprune.vitis.view import ModelView, module_name_excludes

__all__ = ["PruningRunner", "MODES"]

MODES = ("sparse", "slim")


class PruningRunner:
    """What both runners share: the model view, the work folder, specs and slim models.

    Args:
        model: the model to prune; never modified.
        inputs: example input tensor(s) (random data of the real shape is fine).
        hw: the accelerator latency budgets refer to (preset name, config file or config).
        name: file name stem for ``.sens``/``.search``/spec files; defaults to the model's class name.
        workdir: folder of the result files.
        backend: ``"process"`` (default), ``"serial"``, ``"ray"`` or a backend object.
        workers: processes (or Ray CPUs) evaluating candidates; defaults to the core count.
        progress: show progress bars.
        importance: how the channels of a group are ranked (``"l1"``, ``"l2"``, ``"bn_scale"``).
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: Any,
        hw: Any = "dpu-b4096",
        *,
        name: str | None = None,
        workdir: str | os.PathLike[str] = ".hwprune",
        backend: str | Backend | None = "process",
        workers: int | None = None,
        progress: bool = True,
        importance: str = "l1",
    ) -> None:
        self.model = model
        self.view = ModelView(model, inputs, hw, importance)
        self.inputs = self.view.inputs
        self.hw = hw
        self.name = name or type(model).__name__
        self.workdir = Path(workdir)
        self.backend = get_backend(backend, workers)
        self.progress = progress
        self.last_spec: Path | None = None
        self.last_plan: Any = None  # the planner's Plan of the last prune(latency_budget=...)
        self.last_removal_ratio: float | None = None  # MACs removed by the last prune(removal_ratio=...)

    # ----------------------------------------------------------------------------- files
    @property
    def sens_path(self) -> Path:
        return self.workdir / f"{self.name}.sens"

    @property
    def search_path(self) -> Path:
        return self.workdir / f"{self.name}.search"

    def _excludes(self, excludes: Sequence[Any] | None) -> tuple[str, ...]:
        names = module_name_excludes(self.model, excludes)
        self.view.prunable(names)  # raises ExcludeError for a name that is no module
        return names

    def _cost(
        self, removal_ratio: float | None, latency_budget: Any
    ) -> tuple[str, Callable[[Mapping[str, int]], int], int]:
        """``(what, cost function, target)`` for a MACs reduction or a latency budget."""
        if (removal_ratio is None) == (latency_budget is None):
            raise PruneConfigError("give exactly one of removal_ratio= (MACs reduction) or latency_budget=")
        full = {g.key: g.size for g in self.view.groups}
        if removal_ratio is not None:
            return "macs", self.view.macs, relative_target(self.view.macs(full), removal_ratio)
        from hwprune.lower.simulate import resolve_hw
        from hwprune.planning.budget import parse_budget

        cfg = resolve_hw(self.hw)
        full_cycles = self.view.cycles(full)
        return "cycles", self.view.cycles, parse_budget(latency_budget).cycles(full_cycles, cfg.clock_mhz)

    def _emit(self, keep: Mapping[str, int], mode: str, tag: str, extra: Mapping[str, Any]) -> nn.Module:
        return self._emit_indices(self.view.top_channels(keep), mode, tag, extra)

    def _emit_indices(
        self, indices: Mapping[str, Sequence[int]], mode: str, tag: str, extra: Mapping[str, Any]
    ) -> nn.Module:
        if mode not in MODES:
            raise PruneConfigError(
                f"mode={mode!r}: use 'sparse' (same shapes, pruned channels masked) or 'slim'"
            )
        spec = specfile.make_spec(self.view, self.name, indices, mode=mode, **extra)
        path = self.workdir / f"{self.name}_{re.sub(r'[^A-Za-z0-9._-]+', '_', tag)}.spec"
        specfile.save_spec(spec, path)
        atomic_write_text(self.workdir / "latest_spec", f"{path.resolve()}\n")  # valid from any cwd
        self.last_spec = path
        return self.view.sparse(indices) if mode == "sparse" else self.view.slim(indices)

    def get_slim_model(
        self, spec_path: str | os.PathLike[str] | None = None, model: nn.Module | None = None
    ) -> nn.Module:
        """The slim model a spec describes, built from ``model`` (default: the runner's model).

        Args:
            spec_path: a spec written by ``prune``; default: the newest (``<workdir>/latest_spec``).
            model: a same-structure model whose weights to slice, e.g. the fine-tuned sparse model.

        Raises:
            SpecError: no spec, or a spec for a model of another structure.
        """
        path = Path(spec_path) if spec_path is not None else specfile.latest(self.workdir)
        spec = specfile.load_spec(path, self.view)
        if model is not None:
            model = bake(model) if has_masks(model) else model
        return self.view.slim(specfile.kept_of(spec), model)

    def _shared_graph(self) -> Any:
        """The traced graph for workers that share memory (no tracing per subnet), else None."""
        return self.view.graph if shares_memory(self.backend) else None

    def _sensitivity(self) -> Sensitivity | None:
        if not self.sens_path.exists():
            return None
        store = ResultStore.open_existing(
            self.sens_path, kind="sensitivity", structure_hash=self.view.structure_hash
        )
        return Sensitivity.from_records(store.records, where=str(self.sens_path))
