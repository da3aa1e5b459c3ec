"""``OFAPruner``: Vitis AI's once-for-all workflow, with latency on modelled hardware.

The model is traced once (in the constructor); the supernet, its latency tables, static subnets and
the search all reuse that trace, its channel groups and the shared latency model
(:class:`hwprune.planning.latency.LatencyModel`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from torch import nn

from hwprune.analysis.groups import Analysis
from hwprune.analysis.importance import group_importance
from hwprune.errors import BudgetError, PruneConfigError, SpecError
from hwprune.frontend.trace import as_input_tuple
from hwprune.io import read_json, write_json
from hwprune.ir.kinds import OpKind
from hwprune.lower.simulate import resolve_hw
from hwprune.ofa.costs import CostTable, group_step_costs, kernel_step_choices
from hwprune.ofa.depth import find_skip_blocks
from hwprune.ofa.kernel import DEFAULT_KERNEL_SIZES, check_kernel_sizes, find_elastic_kernels
from hwprune.ofa.search import Range, flops_range, latency_range
from hwprune.ofa.space import (
    SearchSpace,
    build_groups,
    check_expand_ratios,
    depthwise_heavy,
    kernel_groups,
)
from hwprune.ofa.static import static_subnet
from hwprune.ofa.supernet import OFASupernet
from hwprune.planning.budget import parse_budget
from hwprune.planning.latency import LatencyModel
from hwprune.planning.reuse import config_hash
from hwprune.runtime.store import ResultStore
from hwprune.traced import Traced
from hwprune.vitis.view import module_name_excludes

__all__ = ["OFAPruner", "save_subnet_config", "load_subnet_config", "SAMPLE_MODES"]

SAMPLE_MODES = ("max", "min", "random")


def save_subnet_config(pareto: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a Pareto set (or any subnet configs) as JSON, atomically (Vitis ``save_subnet_config``)."""
    write_json(path, {"format": "hwprune-ofa-subnets", "version": 1, "subnets": dict(pareto)})


def load_subnet_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read what :func:`save_subnet_config` wrote (Vitis ``load_subnet_config``).

    Raises:
        StaleFileError: missing or corrupt file; SpecError: not a subnet config file.
    """
    doc = read_json(path, kind="subnet config", fix="write it again with save_subnet_config")
    if (
        not isinstance(doc, dict)
        or doc.get("format") != "hwprune-ofa-subnets"
        or not isinstance(doc.get("subnets"), dict)
    ):
        raise SpecError(f"{path} is not a subnet config written by save_subnet_config")
    return dict(doc["subnets"])


class OFAPruner:
    """Once-for-all: build a supernet, train it, search it under a latency range, emit static subnets.

    Args:
        model: the trained model (never modified).
        inputs: example input tensor(s) (random data of the real shape is fine).
        hw: the accelerator latencies refer to (preset name, config file or ``AcceleratorConfig``).
        importance: how a group's channels are ranked ("l1", "l2", "bn_scale"); narrower subnets keep
            the most important ones.
        backend: how search candidates are evaluated: "process" (default), "serial", "ray" or a backend.
        workers: evaluation processes (default: the core count).
        progress: show progress bars.
        name: file name stem of the search file (default: the model's class name).
        workdir: folder of the search file (``<workdir>/<name>.ofasearch``).
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: Any,
        hw: Any = "dpu-b4096",
        *,
        importance: str = "l1",
        backend: Any = "process",
        workers: int | None = None,
        progress: bool = True,
        name: str | None = None,
        workdir: str | os.PathLike[str] = ".hwprune",
    ) -> None:
        self.model = model
        self.name = name or type(model).__name__
        self.workdir = Path(workdir)
        self.inputs = as_input_tuple(inputs)
        self.hw = hw
        self.cfg = resolve_hw(hw)
        self.importance = importance
        self.backend = backend
        self.workers = workers
        self.progress = progress
        self.traced = Traced(model, self.inputs)  # the one trace everything below reuses
        self.graph = self.traced.graph
        self.structure_hash = self.traced.structure_hash
        self._latency: dict[tuple[str, ...], LatencyModel] = {}
        self._tables: dict[int, CostTable] = {}

    # ----------------------------------------------------------------------------- shared core
    def analysis(self, excludes: Sequence[str] = ()) -> Analysis:
        """The channel groups with ``excludes`` pinned (the trace's, computed once per list)."""
        return self.traced.analysis(tuple(excludes))

    def latency_model(self, excludes: Sequence[str] = ()) -> LatencyModel:
        """The shared latency model of the trace with ``excludes`` (built once per list)."""
        key = tuple(excludes)
        if key not in self._latency:
            self._latency[key] = LatencyModel.of(self.traced, self.cfg, key)
        return self._latency[key]

    def _auto_excludes(self) -> tuple[str, ...]:
        """Vitis's default: the first conv and the last conv/linear keep their width."""
        layers = self.graph.ops_of(OpKind.CONV, OpKind.LINEAR)
        return tuple(dict.fromkeys(op.name for op in (layers[:1] + layers[-1:])))

    def table(self, supernet: OFASupernet) -> CostTable:
        """The latency/MACs tables of a supernet's space (built once per space)."""
        self._check_supernet(supernet)
        tab = self._tables.get(id(supernet.space))
        if tab is None:
            excludes: tuple[str, ...] = tuple(cast(Sequence[str], supernet.space.identity["excludes"]))
            tab = self._tables[id(supernet.space)] = CostTable(
                self.latency_model(excludes),
                supernet.space.groups,
                supernet.space.blocks,
                supernet.space.kernels,
            )
        return tab

    def _check_supernet(self, supernet: Any) -> None:
        if not isinstance(supernet, OFASupernet):
            raise PruneConfigError(
                f"expected the supernet ofa_model() returned, got {type(supernet).__name__}"
            )
        if supernet.space.identity.get("structure_hash") != self.structure_hash:
            raise SpecError(
                "this supernet was built from another model (structure hash "
                f"{supernet.space.identity.get('structure_hash')}, this pruner's model {self.structure_hash}); "
                "use the OFAPruner that built it"
            )

    # ----------------------------------------------------------------------------- supernet
    def ofa_model(
        self,
        expand_ratio: Sequence[float] = (0.5, 0.75, 1.0),
        channel_divisible: int = 8,
        excludes: Sequence[Any] | None = None,
        auto_add_excludes: bool = True,
        *,
        kernel_sizes: Sequence[int] | None = DEFAULT_KERNEL_SIZES,
        kernel_transform: bool = True,
        depthwise_rule: bool = True,
        elastic_depth: bool = False,
    ) -> OFASupernet:
        """The supernet: elastic width per channel group, choices snapped to the hardware's channel steps,
        elastic kernel size, optionally elastic depth.

        Args:
            expand_ratio: fractions of each group's channels a subnet may keep, each in (0, 1].
            channel_divisible: kept counts are rounded to a multiple of it before snapping up to the
                top of their latency step.
            excludes: modules (names or module objects) whose output channels stay fixed.
            auto_add_excludes: also fix the first conv and the last conv/linear (Vitis's default).
            kernel_sizes: kernel sizes a conv may shrink to (centre crops of its kernel; OFA's 3/5/7 by
                default: a 7x7 conv offers 3, 5 and 7, a 3x3 conv nothing); None: no elastic kernel.
                Which convs qualify: :mod:`hwprune.ofa.kernel`. Excluded modules keep their kernel. A
                size that buys no latency on the hardware (its layer costs as much as with the next
                larger size) is dropped, as width choices are snapped to their latency step's top.
            kernel_transform: learn OFA's kernel transformation (a matrix per step down, shared by a
                layer's channels) instead of plain centre crops.
            depthwise_rule: Vitis AI's rule: in a net with more depthwise than regular convs (kernels of
                3x3 and up counted), only channel groups produced by a conv with a kernel larger than 1x1
                are elastic (a depthwise conv's channels with the conv feeding it); groups of 1x1 convs
                alone keep their width. Nets with fewer depthwise convs are not affected.
            elastic_depth: also let subnets skip residual blocks whose identity path allows it
                (:mod:`hwprune.ofa.depth`; Vitis has no elastic depth).

        Returns:
            An :class:`OFASupernet` (a new module; the model is copied, not changed), at its largest subnet.

        Raises:
            PruneConfigError: bad ratios, ``channel_divisible`` or ``kernel_sizes``, or nothing is elastic.
            ExcludeError: an exclude names no module.
        """
        ratios = check_expand_ratios(expand_ratio)
        ksizes = check_kernel_sizes(kernel_sizes)
        if (
            isinstance(channel_divisible, bool)
            or not isinstance(channel_divisible, int)
            or channel_divisible < 1
        ):
            raise PruneConfigError(f"channel_divisible must be a positive int, got {channel_divisible!r}")
        names = module_name_excludes(self.model, excludes)
        if auto_add_excludes:
            names = tuple(sorted(set(names) | set(self._auto_excludes())))
        analysis = self.analysis(names)
        lm = self.latency_model(names)
        scores = group_importance(self.graph, analysis.groups, self.importance)
        cand = [g.id for g in analysis.groups if g.prunable and g.exact and g.size >= 2]
        mobile = depthwise_rule and depthwise_heavy(self.graph)
        if mobile:  # Vitis: a depthwise-heavy net compresses the channels of its k > 1 convs only
            wide = kernel_groups(self.graph, analysis)
            cand = [gid for gid in cand if gid in wide]
            scores = {gid: v for gid, v in scores.items() if gid in wide}
        groups = build_groups(
            self.graph, analysis, scores, ratios, channel_divisible, group_step_costs(lm, cand)
        )
        kernels = kernel_step_choices(lm, find_elastic_kernels(self.graph, ksizes, names))
        blocks = find_skip_blocks(self.graph, names) if elastic_depth else ()
        if not groups and not blocks and not kernels:
            raise PruneConfigError(
                "no channel group of this model is elastic: every group is excluded, blocked, too small or "
                f"has no choice below its full width with expand_ratio={list(ratios)} (excludes: {list(names)})"
            )
        identity = {
            "structure_hash": self.structure_hash,
            "hw": config_hash(self.cfg.to_dict()),
            "hw_name": self.cfg.name,
            "expand_ratio": list(ratios),
            "channel_divisible": channel_divisible,
            "excludes": list(names),
            "importance": self.importance,
            "choices": {g.key: list(g.choices) for g in groups},
            **({"blocks": [b.add for b in blocks]} if blocks else {}),
            **({"depthwise_rule": True} if mobile else {}),
            **(
                {
                    "kernels": {k.op: list(k.choices) for k in kernels},
                    "kernel_sizes": list(ksizes or ()),
                    "kernel_transform": bool(kernel_transform),
                }
                if kernels
                else {}
            ),
        }  # spaces without elastic kernels, depth or the depthwise rule: as before
        return OFASupernet(self.model, SearchSpace(groups, identity, blocks, kernels), bool(kernel_transform))

    def sample_subnet(
        self,
        supernet: OFASupernet,
        mode: str = "random",
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[OFASupernet, dict[str, Any]]:
        """Activate the largest, the smallest or a random subnet (Vitis ``sample_subnet``).

        Args:
            supernet: from :meth:`ofa_model`.
            mode: "max", "min" or "random".
            seed / rng: randomness of "random" (default: numpy's fresh entropy).

        Returns:
            ``(supernet, setting)``: the supernet itself, now computing that subnet, and its setting.
        """
        self._check_supernet(supernet)
        space = supernet.space
        if mode == "max":
            code = space.max_code()
        elif mode == "min":
            code = space.min_code()
        elif mode == "random":
            code = space.random_codes(rng if rng is not None else np.random.default_rng(seed), 1)[0]
        else:
            raise PruneConfigError(f"sample_subnet mode must be one of {SAMPLE_MODES}, got {mode!r}")
        supernet.set_code(code)
        return supernet, supernet.setting()

    def get_static_subnet(
        self, supernet: OFASupernet, subnet_setting: Mapping[str, Any]
    ) -> tuple[nn.Module, dict[str, Any], int, int]:
        """A real slim model of a subnet, with the supernet's weights (Vitis ``get_static_subnet``).

        Args:
            supernet: from :meth:`ofa_model` (trained or not).
            subnet_setting: a setting (``{"width": {...}}``), e.g. ``pareto[key]["subnet_setting"]``.

        Returns:
            ``(static_subnet, config, macs, params)``: the slim ``GraphModule`` (``.hwprune_spec`` holds its
            spec), the setting, its MACs per sample and its parameter count.

        Raises:
            SpecError: the setting does not belong to this supernet.
        """
        self._check_supernet(supernet)
        code = supernet.space.code(subnet_setting)
        slim = static_subnet(self.graph, supernet, code)
        params = sum(p.numel() for p in slim.parameters())
        macs = int(self.table(supernet).macs(code[None, :])[0])
        return slim, supernet.space.setting(code), macs, params

    def subnet_latency(
        self,
        supernet: OFASupernet,
        subnet_setting: Mapping[str, Any] | None = None,
        *,
        mode: str = "analytic",
    ) -> int:
        """Cycles of a subnet (default: the active one): "analytic" from the tables, or "cycle" mode."""
        self._check_supernet(supernet)
        code = supernet.code if subnet_setting is None else supernet.space.code(subnet_setting)
        if mode == "analytic":
            return int(self.table(supernet).cycles(code[None, :])[0])
        if mode == "cycle":
            return self._cycle_mode(supernet, code)
        raise PruneConfigError(f"mode must be 'analytic' or 'cycle', got {mode!r}")

    def _cycle_mode(self, supernet: OFASupernet, code: np.ndarray) -> int:
        """Cycle-mode latency of a subnet: the shared latency model's workloads, skipped blocks left out."""
        import hwmodel

        lm = self.table(supernet).lm
        dropped = {o for b in supernet.space.skipped(code) for o in (*b.branch, b.add)}
        work = [
            w
            for w in lm.workloads(supernet.space.kept(code), kernels=supernet.space.kernel_sizes(code))
            if w.name not in dropped
        ]
        return int(hwmodel.simulate(work, self.cfg, mode="cycle").total_cycles)

    def subnet_params(self, supernet: OFASupernet, code: Any) -> int:
        """Parameters of a subnet's static model (narrowed channels, cropped kernels, skipped blocks)."""
        from hwprune.analysis.counts import count
        from hwprune.ofa.static import keep_indices
        from hwprune.transforms.channels import prune_channels

        space = supernet.space
        pruned = prune_channels(self.graph, keep_indices(space, code))
        counts = count(pruned)
        dropped = {o for b in space.skipped(code) for o in b.branch}
        params = counts.params - sum(counts.of(o).params for o in dropped)
        by_op = {ek.op: ek for ek in space.kernels}
        for op_name, k in space.kernel_sizes(code).items():
            if op_name in dropped:
                continue
            op, size = pruned.op(op_name), by_op[op_name].size
            params -= (
                op.attr("out_channels")
                * (op.attr("in_channels") // op.attr("groups"))
                * (size * size - k * k)
            )
        return int(params)

    def unpruned_cycles(self) -> int:
        """Analytic cycles of the model as given (every group at full width)."""
        return int(self.latency_model().cycles())

    # ----------------------------------------------------------------------------- training
    def train(self, supernet: OFASupernet, loader: Any, epochs: int, **kwargs: Any) -> dict[str, Any]:
        """Train the supernet with the sandwich rule, distilling from the original model.

        Keyword arguments are those of :func:`hwprune.ofa.train.train_supernet` (``lr``, ``device``,
        ``checkpoint``, ``n_random``, ``kd_weight``, ``clip_grad``, ...); ``teacher`` defaults to the
        pruner's model. Runs data-parallel under ``torchrun``.
        """
        from hwprune.ofa.train import train_supernet

        self._check_supernet(supernet)
        kwargs.setdefault("teacher", self.model)
        kwargs.setdefault("progress", self.progress)
        return train_supernet(supernet, loader, epochs, **kwargs)

    # ----------------------------------------------------------------------------- search
    @property
    def search_path(self) -> Path:
        return self.workdir / f"{self.name}.ofasearch"

    def search_range(
        self,
        supernet: OFASupernet,
        *,
        min_latency: Any = None,
        max_latency: Any = None,
        latency_step: Any = None,
        min_flops: Any = None,
        max_flops: Any = None,
        flops_step: Any = None,
    ) -> Range:
        """The targets of a latency range (preferred) or a Vitis FLOPs range, checked against what the
        smallest and largest subnets reach."""
        table = self.table(supernet)
        space = supernet.space
        ends = np.stack([space.min_code(), space.max_code()])
        cycles, macs = table.price(ends)
        if min_latency is not None or max_latency is not None:
            if min_latency is None or max_latency is None:
                raise BudgetError(
                    "give both min_latency and max_latency (latency_step defaults to their distance / 4)"
                )
            if latency_step is None:
                lo, hi = parse_budget(min_latency), parse_budget(max_latency)
                latency_step = {
                    "ms": f"{max((hi.value - lo.value) / 4, 1e-9):g}ms",
                    "cycles": max(2, int((hi.value - lo.value) / 4)),
                }.get(lo.kind, max((hi.value - lo.value) / 4, 1e-6))
            return latency_range(
                min_latency,
                max_latency,
                latency_step,
                unpruned=self.unpruned_cycles(),
                clock_mhz=self.cfg.clock_mhz,
                reachable=(int(cycles[0]), int(cycles[1])),
            )
        if min_flops is None or max_flops is None:
            raise BudgetError(
                "give a latency range (min_latency, max_latency[, latency_step]) or a FLOPs range "
                "(min_flops, max_flops[, flops_step]) in MMACs"
            )
        return flops_range(
            min_flops,
            max_flops,
            flops_step if flops_step is not None else 10,
            reachable=(int(macs[0]), int(macs[1])),
        )

    def run_evolutionary_search(
        self,
        ofa_model: OFASupernet,
        calibration_fn: Any = None,
        calib_args: Sequence[Any] = (),
        eval_fn: Any = None,
        eval_args: Sequence[Any] = (),
        evaluation_metric: str = "acc1",
        min_or_max_metric: str = "max",
        min_flops: Any = None,
        max_flops: Any = None,
        flops_step: Any = None,
        parent_popu_size: int = 16,
        iteration: int = 10,
        mutate_size: int = 8,
        mutate_prob: float = 0.2,
        crossover_size: int = 4,
        *,
        min_latency: Any = None,
        max_latency: Any = None,
        latency_step: Any = None,
        seed: int = 0,
        search_file: str | os.PathLike[str] | None = None,
        forced: bool = False,
        recheck: bool = True,
        score_tolerance: float = 0.0,
    ) -> dict[str, dict[str, Any]]:
        """Evolutionary search under a latency range (or Vitis's FLOPs range); see :mod:`hwprune.ofa.search`.

        Args:
            ofa_model: the (trained) supernet.
            calibration_fn / calib_args: adaptive-BN calibration of each candidate, called as
                ``calibration_fn(model, *calib_args)`` (e.g. ``hwprune.train.calibrate.loader_calibration``
                with ``(loader, batches)``); None: no calibration.
            eval_fn / eval_args: ``eval_fn(model, *eval_args) -> number``.
            evaluation_metric: the name the score has in the result ("acc1").
            min_or_max_metric: "max" (accuracy) or "min" (a loss).
            min_flops / max_flops / flops_step: a Vitis FLOPs range in MMACs.
            parent_popu_size / iteration / mutate_size / mutate_prob / crossover_size: the evolution.
            min_latency / max_latency / latency_step: a latency range: fractions of the unpruned
                latency (0.4), times ("2.5ms") or cycles (ints).
            seed: seed of the evolution.
            search_file: results file (default ``<workdir>/<name>.ofasearch``); an interrupted search
                resumes from it.
            forced: move an existing search file of another supernet or setting aside and start over.
            recheck: re-simulate each latency pick in cycle mode (it must lie in its range there too).
            score_tolerance: scores within this of a target's best count as tied with it (e.g. the
                standard error of the eval, ``sqrt(p (1 - p) / n)`` for an accuracy ``p`` on ``n``
                images); of tied subnets the costliest inside the target wins. 0: exact ties only.
                It changes only the picks, not the search or its file.

        Returns:
            The Pareto set: target key ("0.5", "2.5ms", "230") -> ``{"net_id", "mode", <metric>, "flops",
            "macs", "params", "latency_cycles", "latency_ms", "latency_fraction", "subnet_setting",
            "latency_cycles_cycle_mode"}``; the metric never gets worse as the target grows.

        Raises:
            BudgetError: a range outside what the subnets reach (stated), malformed or missing.
            StaleFileError: the search file belongs to another model, supernet, weights or settings.
            EvalFnError: the eval or calibration function failed (finished evaluations are kept).
        """
        from hwprune.ofa.search import evolve, make_payload, pareto_set, search_config
        from hwprune.runtime.parallel import get_backend

        self._check_supernet(ofa_model)
        if eval_fn is None or not callable(eval_fn):
            raise PruneConfigError("eval_fn must be a function eval_fn(model, *eval_args) -> score")
        if (
            isinstance(score_tolerance, bool)
            or not isinstance(score_tolerance, (int, float))
            or not math.isfinite(score_tolerance)
            or score_tolerance < 0
        ):
            raise PruneConfigError(f"score_tolerance must be a finite number >= 0, got {score_tolerance!r}")
        if min_or_max_metric not in ("max", "min"):
            raise PruneConfigError(f"min_or_max_metric must be 'max' or 'min', got {min_or_max_metric!r}")
        sizes = {
            "parent_popu_size": parent_popu_size,
            "iteration": iteration,
            "mutate_size": mutate_size,
            "crossover_size": crossover_size,
        }
        for k, v in sizes.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if k == "parent_popu_size" else 0):
                raise PruneConfigError(f"{k} must be a non-negative int (parent_popu_size >= 1), got {v!r}")
        if not 0.0 <= mutate_prob <= 1.0:
            raise PruneConfigError(f"mutate_prob must be in [0, 1], got {mutate_prob!r}")
        rng_ = self.search_range(
            ofa_model,
            min_latency=min_latency,
            max_latency=max_latency,
            latency_step=latency_step,
            min_flops=min_flops,
            max_flops=max_flops,
            flops_step=flops_step,
        )
        table = self.table(ofa_model)
        backend = get_backend(self.backend, self.workers)
        config = search_config(
            ofa_model,
            rng_,
            metric=evaluation_metric,
            direction=min_or_max_metric,
            sizes={**sizes, "mutate_prob": mutate_prob},
            seed=seed,
            eval_fn=eval_fn,
            calibration_fn=calibration_fn,
            eval_args=tuple(eval_args),
            calib_args=tuple(calib_args),
        )
        store = ResultStore(
            search_file or self.search_path,
            kind="ofa-search",
            structure_hash=self.structure_hash,
            config=config,
            forced=forced,
        )
        store.save()
        payload = make_payload(ofa_model, self.model, backend, eval_fn, eval_args, calibration_fn, calib_args)

        def evaluate(codes: list[np.ndarray]) -> Iterator[tuple[int, Any]]:
            return backend.run(evaluate_code, payload, [tuple(int(c) for c in code) for code in codes])

        from tqdm.auto import tqdm

        from hwprune.ofa.search import evaluate_code

        with tqdm(
            total=iteration + 1,
            desc="ofa search",
            leave=False,
            disable=not (self.progress and sys.stderr.isatty()),
        ) as bar:
            pool = evolve(
                ofa_model.space,
                table,
                store,
                rng_,
                direction=min_or_max_metric,
                evaluate=evaluate,
                parent_popu_size=parent_popu_size,
                iteration=iteration,
                mutate_size=mutate_size,
                mutate_prob=mutate_prob,
                crossover_size=crossover_size,
                seed=seed,
                progress=lambda gen: bar.update(1),
            )
        store.mark_complete()
        self.last_search = pool
        unpruned, clock = self.unpruned_cycles(), self.cfg.clock_mhz

        def describe(r: dict[str, Any]) -> dict[str, Any]:
            return {
                "flops": r["macs"],
                "macs": r["macs"],
                "params": self.subnet_params(ofa_model, r["code"]),
                "latency_cycles": r["cycles"],
                "latency_ms": r["cycles"] / (clock * 1e3),
                "latency_fraction": r["cycles"] / unpruned,
            }

        def cycle_mode(code: np.ndarray) -> int:
            return self._cycle_mode(ofa_model, code)

        return pareto_set(
            pool,
            rng_,
            metric=evaluation_metric,
            describe=describe,
            recheck=cycle_mode if (recheck and rng_.kind == "latency") else None,
            score_tolerance=float(score_tolerance),
        )

    # ----------------------------------------------------------------------------- files
    save_subnet_config = staticmethod(save_subnet_config)
    load_subnet_config = staticmethod(load_subnet_config)
