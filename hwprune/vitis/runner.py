"""Vitis AI Optimizer's pruning runners, with budgets in simulated latency.

``get_pruning_runner(model, inputs, "iterative")`` gives an :class:`IterativeRunner` (``ana`` then
``prune``, fine-tune, repeat); ``"one_step"`` gives a :class:`OneStepRunner` (``search`` then
``prune``). Names and arguments follow ``pytorch_nndct``; what is new: ``latency_budget=`` wherever
``removal_ratio=`` is accepted (a fraction of the unpruned latency, ``"2.5ms"`` or cycles on ``hw``),
excludes by module name, result files that resume after an interruption, and evaluation on a
process pool or Ray.

Files, in ``workdir`` (default ``.hwprune``): ``<name>.sens`` (sensitivity), ``<name>.search``
(one-step search), ``<name>_<what>.spec`` (the kept channels of each pruned model) and
``latest_spec`` (the path of the newest spec).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from hwprune.analysis.hashing import weights_hash
from hwprune.errors import PruneConfigError, StaleFileError
from hwprune.runtime.store import ResultStore
from hwprune.runtime.userfn import as_args, identity
from hwprune.train.calibrate import adaptive_bn
from hwprune.vitis import allocate, specfile
from hwprune.vitis.base import PruningRunner
from hwprune.vitis.evaluate import EvalPayload
from hwprune.vitis.sampling import sample_candidates
from hwprune.vitis.search import SubnetResult, best_result, read_results, run_search
from hwprune.vitis.sensitivity import DEFAULT_RATIOS, Sensitivity, run_analysis

__all__ = ["get_pruning_runner", "IterativeRunner", "OneStepRunner", "PruningRunner"]


class IterativeRunner(PruningRunner):
    """``ana`` (sensitivity analysis) then ``prune`` by MACs, latency or threshold; fine-tune; repeat."""

    def ana(
        self,
        eval_fn: Callable[..., Any],
        args: Sequence[Any] = (),
        gpus: Sequence[int] | None = None,
        excludes: Sequence[Any] | None = (),
        forced: bool = False,
        ratios: Sequence[float] = DEFAULT_RATIOS,
    ) -> Sensitivity:
        """Sensitivity analysis: each group pruned alone at each ratio and scored with ``eval_fn``.

        Args:
            eval_fn: ``eval_fn(model, *args) -> score`` (higher is better).
            args: extra arguments of ``eval_fn``.
            gpus: accepted for Vitis compatibility; evaluations run on the runner's backend.
            excludes: module names (or modules) whose channels are not analysed.
            forced: rebuild the ``.sens`` file (the old one is kept as ``.stale-<timestamp>``).
            ratios: pruning ratios to measure.

        Returns:
            The :class:`Sensitivity` (also written to ``<workdir>/<name>.sens`` and plotted to
            ``<name>.sens.png``).

        Raises:
            EvalFnError: ``eval_fn`` raised or returned a non-number; results so far are kept.
            StaleFileError: the ``.sens`` file is corrupt or for another model (use ``forced=True``).
            ExcludeError: an exclude names no module.
        """
        del gpus
        if any(not 0 < r < 1 for r in ratios):
            raise PruneConfigError(f"ratios {tuple(ratios)} must lie in (0, 1)")
        names = self._excludes(excludes)
        store = ResultStore(
            self.sens_path,
            kind="sensitivity",
            structure_hash=self.view.structure_hash,
            config={
                "importance": self.view.importance,
                "weights": weights_hash(self.model),
                "eval_fn": identity(eval_fn),
            },
            forced=forced,
        )
        _note_unchecked(store, eval_fn=eval_fn)
        payload = EvalPayload(self.model, self.inputs, eval_fn, as_args(args), graph=self._shared_graph())
        groups = [(g.gid, g.key, g.size, g.order) for g in self.view.prunable(names)]
        sens = run_analysis(
            store, payload, groups, ratios, self.backend, progress=self.progress, desc=f"ana {self.name}"
        )
        from hwprune.vitis.plots import plot_sensitivity

        plot_sensitivity(
            sens.curves,
            sens.baseline,
            self.sens_path.with_name(self.sens_path.name + ".png"),
            title=f"{self.name}: sensitivity",
        )
        return sens

    def prune(
        self,
        removal_ratio: float | None = None,
        threshold: float | None = None,
        spec_path: str | os.PathLike[str] | None = None,
        excludes: Sequence[Any] | None = (),
        mode: str = "sparse",
        channel_divisible: int = 2,
        latency_budget: Any = None,
        max_ratio: float = 0.9,
    ) -> nn.Module:
        """Prune by MACs (``removal_ratio``), latency (``latency_budget``), ``threshold`` or a spec.

        Args:
            removal_ratio: fraction of MACs to remove (allocated by sensitivity when ``ana`` ran,
                uniformly otherwise).
            threshold: per group, the largest analysed ratio losing at most this fraction of the
                baseline score (needs ``ana``).
            spec_path: rebuild a spec written before.
            excludes: module names (or modules) to keep whole.
            mode: ``"sparse"`` (same shapes, pruned channels masked; for fine-tuning rounds) or
                ``"slim"`` (channels removed).
            channel_divisible: kept channels per group are multiples of it.
            latency_budget: a fraction of unpruned latency, ``"2.5ms"`` or cycles on ``hw``; planned
                by ``hwprune.plan`` (checked in cycle mode) with the measured sensitivity weighting
                each group's loss; the plan is kept in :attr:`last_plan`.
            max_ratio: the most any group may lose (MACs mode).

        Returns:
            The pruned model; its spec is at :attr:`last_spec` and in ``<workdir>/latest_spec``. A
            sparse model keeps its masks as parametrizations: after fine-tuning, turn it into the
            slim model with ``get_slim_model(model=sparse)``, or into plain modules with
            ``hwprune.vitis.sparse.export_sparse_model(sparse)`` (the original state_dict keys).
        """
        given = sum(x is not None for x in (removal_ratio, threshold, spec_path, latency_budget))
        if given != 1:
            raise PruneConfigError(
                "give exactly one of removal_ratio=, latency_budget=, threshold= or spec_path="
            )
        names = self._excludes(excludes)
        sens = self._sensitivity()
        if spec_path is not None:
            spec = specfile.load_spec(spec_path, self.view)
            info = {k: v for k, v in specfile.vitis_info(spec).items() if k not in ("model", "mode")}
            return self._emit_indices(specfile.kept_of(spec), mode, Path(spec_path).stem, info)
        slots = self.view.slots(names)
        if threshold is not None:
            if sens is None:
                raise PruneConfigError(
                    "prune(threshold=...) needs a sensitivity analysis: run ana(eval_fn) first"
                )
            keep = allocate.threshold_keep(
                slots, sens, threshold, DEFAULT_RATIOS, divisible=channel_divisible
            )
            return self._emit(keep, mode, f"threshold_{threshold:g}", {"threshold": threshold})
        if latency_budget is not None:
            keep = self._plan_keep(latency_budget, names, sens, channel_divisible)
            return self._emit(keep, mode, f"budget_{latency_budget}", {"latency_budget": str(latency_budget)})
        _, cost_fn, target = self._cost(removal_ratio, None)
        if sens is not None:
            keep = allocate.sensitivity_keep(
                slots, sens, cost_fn, target, divisible=channel_divisible, max_ratio=max_ratio
            )
        else:
            keep = allocate.uniform_keep(
                slots, cost_fn, target, divisible=channel_divisible, max_ratio=max_ratio
            )
        full = cost_fn({g.key: g.size for g in self.view.groups})
        achieved = 1.0 - cost_fn({**{g.key: g.size for g in self.view.groups}, **keep}) / max(full, 1)
        self.last_removal_ratio = achieved
        if self.progress:
            print(
                f"[hwprune] removal ratio asked {removal_ratio:g}, achieved {achieved:.4f} of the MACs",
                flush=True,
            )
        return self._emit(
            keep,
            mode,
            f"ratio_{removal_ratio:g}",
            {"removal_ratio": removal_ratio, "achieved_removal_ratio": round(achieved, 6)},
        )

    def _plan_keep(
        self, budget: Any, excludes: tuple[str, ...], sens: Sensitivity | None, divisible: int
    ) -> dict[str, int]:
        from hwprune.planning.planner import plan_graph

        self.view.traced.sync()  # the user may have moved or reloaded the model since the runner traced it
        result = plan_graph(
            self.view.traced,  # the runner's one trace of the model
            hw=self.hw,
            budget=budget,
            nm=False,
            excludes=excludes,
            importance=self.view.importance,
            round_to=divisible if divisible > 1 else None,
            sensitivity=sens.weights() if sens is not None else None,
        )
        self.last_plan = result
        known = {g.key for g in self.view.groups}
        return {g.key: g.kept for g in result.groups if g.key in known}


class OneStepRunner(PruningRunner):
    """``search`` (EagleEye subnet sampling on the budget) then ``prune`` to the best subnet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the calibration of the last search, reused by prune() so the subnet matches its score
        self._calibration: tuple[Callable[..., Any], tuple[Any, ...]] | None = None

    def search(
        self,
        calibration_fn: Callable[..., Any] | None = None,
        calib_args: Sequence[Any] = (),
        eval_fn: Callable[..., Any] | None = None,
        eval_args: Sequence[Any] = (),
        num_subnet: int = 10,
        removal_ratio: float | None = None,
        excludes: Sequence[Any] | None = (),
        latency_budget: Any = None,
        gpus: Sequence[int] | None = None,
        channel_divisible: int = 2,
        max_ratio: float = 0.9,
        seed: int = 0,
        forced: bool = False,
    ) -> list[SubnetResult]:
        """Sample ``num_subnet`` subnets that meet the budget, calibrate BN, score them.

        Args:
            gpus: accepted for Vitis compatibility; evaluations run on the runner's backend.
            calibration_fn: ``calibration_fn(model, *calib_args)`` runs a few training batches
                (e.g. :func:`hwprune.train.calibrate.loader_calibration`); BN statistics are reset
                before and frozen after. None skips calibration (not recommended).
            calib_args: its extra arguments.
            num_subnet: how many subnets to evaluate (a rerun with more evaluates only the new ones).
            removal_ratio: fraction of MACs to remove (Vitis semantics) ...
            latency_budget: ... or a latency budget on ``hw`` (exactly one of the two).
            excludes: module names (or modules) to keep whole.
            eval_fn / eval_args: ``eval_fn(model, *eval_args) -> score``.
            channel_divisible: kept channels per group are multiples of it.
            max_ratio: the most any group may lose.
            seed: seed of the candidate sequence.
            forced: restart the ``.search`` file (the old one is moved aside).

        Returns:
            Every evaluated subnet (``<workdir>/<name>.search`` holds them too).
        """
        del gpus
        if eval_fn is None:
            raise PruneConfigError("search needs eval_fn=: a function eval_fn(model, *eval_args) -> score")
        if not isinstance(num_subnet, int) or num_subnet < 1:
            raise PruneConfigError(f"num_subnet={num_subnet!r} must be a positive integer")
        names = self._excludes(excludes)
        what, cost_fn, target = self._cost(removal_ratio, latency_budget)
        config = {
            "cost": what,
            "target": target,
            "hw": str(self.hw) if what == "cycles" else None,
            "excludes": list(names),
            "channel_divisible": channel_divisible,
            "max_ratio": max_ratio,
            "seed": seed,
            "importance": self.view.importance,
            "weights": weights_hash(self.model),
            "eval_fn": identity(eval_fn),
            "calibration_fn": identity(calibration_fn),
        }
        store = ResultStore(
            self.search_path,
            kind="search",
            structure_hash=self.view.structure_hash,
            config=config,
            forced=forced,
        )
        _note_unchecked(store, eval_fn=eval_fn, calibration_fn=calibration_fn)
        prunable = self.view.prunable(names)
        slots = self.view.slots(names)
        candidates = sample_candidates(
            slots, cost_fn, target, num_subnet, seed=seed, max_ratio=max_ratio, divisible=channel_divisible
        )
        payload = EvalPayload(
            self.model,
            self.inputs,
            eval_fn,
            as_args(eval_args, "eval_args"),
            calibration_fn,
            as_args(calib_args, "calib_args"),
            graph=self._shared_graph(),
        )
        self._calibration = (calibration_fn, payload.calib_args) if calibration_fn is not None else None
        orders = {g.key: (g.gid, g.order) for g in prunable}
        return run_search(
            store,
            payload,
            candidates,
            orders,
            self.backend,
            progress=self.progress,
            desc=f"search {self.name}",
        )

    def results(self, pruning_info_path: str | os.PathLike[str] | None = None) -> list[SubnetResult]:
        """The evaluated subnets stored in the ``.search`` file."""
        path = Path(pruning_info_path) if pruning_info_path is not None else self.search_path
        if not path.exists():
            raise StaleFileError(f"no search results at {path}: run search(...) first")
        return read_results(
            ResultStore.open_existing(path, kind="search", structure_hash=self.view.structure_hash)
        )

    def prune(
        self,
        mode: str = "slim",
        index: int | None = None,
        removal_ratio: float | None = None,
        pruning_info_path: str | os.PathLike[str] | None = None,
        calibration_fn: Callable[..., Any] | None = None,
        calib_args: Sequence[Any] = (),
    ) -> nn.Module:
        """The subnet ``index`` of the search (default: the best score), as a slim or sparse model.

        Args:
            mode: ``"slim"`` (default) or ``"sparse"``.
            index: a candidate index from :meth:`results`; None takes the best.
            removal_ratio: accepted for Vitis compatibility; the search's target already applies.
            pruning_info_path: the ``.search`` file (default ``<workdir>/<name>.search``).
            calibration_fn / calib_args: re-estimate the subnet's batch-norm statistics, as the search
                did before scoring it; by default the calibration of this runner's last ``search``
                is reused, and without one the subnet keeps the original's statistics.

        Returns:
            The subnet (fine-tune it); its spec is at :attr:`last_spec`.
        """
        del removal_ratio
        results = self.results(pruning_info_path)
        if not results:
            raise StaleFileError(f"{self.search_path} holds no evaluated subnet: run search(...) first")
        if index is None:
            chosen = best_result(results)
        else:
            match = [r for r in results if r.index == index]
            if not match:
                raise PruneConfigError(
                    f"no subnet {index} in the search results (have {[r.index for r in results]})"
                )
            chosen = match[0]
        extra = {"subnet": chosen.index, "score": chosen.score, "cost": chosen.cost}
        model = self._emit(dict(chosen.keep), mode, f"subnet_{chosen.index}", extra)
        calib = (
            (calibration_fn, as_args(calib_args, "calib_args"))
            if calibration_fn is not None
            else self._calibration
        )
        if calib is not None:
            adaptive_bn(model, calib[0], calib[1], where=f"subnet {chosen.index}")
        return model


def _note_unchecked(store: ResultStore, **fns: Any) -> None:
    """Say so when stored results are reused but a function's identity could not be checked."""
    unknown = [name for name, fn in fns.items() if fn is not None and identity(fn) is None]
    if len(store) and unknown:
        warnings.warn(
            f"reusing {len(store)} result(s) from {store.path}; {' and '.join(unknown)} is a lambda, "
            "so whether it is the function that made them cannot be checked (pass forced=True to "
            "redo them, or use a named function)",
            stacklevel=3,
        )


def get_pruning_runner(
    model: nn.Module, inputs: Any, method: str = "iterative", hw: Any = "dpu-b4096", **kwargs: Any
) -> PruningRunner:
    """A Vitis-style pruning runner.

    Args:
        model: the model to prune (never modified).
        inputs: example input tensor(s).
        method: ``"iterative"`` (:class:`IterativeRunner`) or ``"one_step"`` (:class:`OneStepRunner`).
        hw: the accelerator latency budgets refer to.
        **kwargs: ``name``, ``workdir``, ``backend``, ``workers``, ``progress`` (see :class:`PruningRunner`).

    Raises:
        PruneConfigError: an unknown method.
    """
    runners = {"iterative": IterativeRunner, "one_step": OneStepRunner}
    if method not in runners:
        raise PruneConfigError(f"method={method!r}: use 'iterative' or 'one_step'")
    runner: PruningRunner = runners[method](model, inputs, hw, **kwargs)
    return runner
