"""Sensitivity analysis (Vitis ``ana``): each channel group pruned alone at ratios 0.1 ... 0.9, scored.

Results go to ``.hwprune/<model>.sens`` (a :class:`~hwprune.runtime.store.ResultStore` of kind
``"sensitivity"``): ``"baseline"`` is the unpruned score, ``"<group key>@<ratio>"`` the score with that
group alone pruned by that ratio. Each result is written as soon as it is known, so an interrupted
analysis resumes; a finished one is reused unless ``forced``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hwprune.errors import StaleFileError
from hwprune.runtime.parallel import Backend
from hwprune.runtime.store import ResultStore
from hwprune.vitis.evaluate import EvalPayload, EvalTask, evaluate_subnet
from hwprune.vitis.sampling import kept_count

__all__ = ["DEFAULT_RATIOS", "Sensitivity", "point_key", "run_analysis"]

DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
BASELINE = "baseline"


def point_key(group_key: str, ratio: float) -> str:
    """The record name of one (group, ratio) point."""
    return f"{group_key}@{ratio:g}"


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """Measured score against pruning ratio, per channel group.

    Attributes:
        baseline: the unpruned model's score.
        curves: group key -> ``((ratio, score), ...)`` in ascending ratio.
    """

    baseline: float
    curves: Mapping[str, tuple[tuple[float, float], ...]]

    @classmethod
    def from_records(cls, records: Mapping[str, float], *, where: str = "sensitivity file") -> Sensitivity:
        """Read the records of a ``.sens`` store.

        Raises:
            StaleFileError: no baseline, or a record that is not ``"<key>@<ratio>": score``.
        """
        if BASELINE not in records:
            raise StaleFileError(f"{where} has no baseline score; rerun ana(..., forced=True)")
        curves: dict[str, list[tuple[float, float]]] = {}
        for name, score in records.items():
            if name == BASELINE:
                continue
            key, sep, ratio = name.rpartition("@")
            try:
                point = (float(ratio), float(score))
            except (TypeError, ValueError):
                point = None
            if not sep or point is None:
                raise StaleFileError(
                    f"{where} has a malformed record {name!r}: {score!r}; rerun with forced=True"
                )
            curves.setdefault(key, []).append(point)
        return cls(float(records[BASELINE]), {k: tuple(sorted(v)) for k, v in curves.items()})

    def score(self, group_key: str, ratio: float) -> float:
        """Score with ``group_key`` alone pruned by ``ratio``.

        Linear between measured points, the baseline at ratio 0; past the last measured ratio the
        score falls linearly to 0 at ratio 1 (a cautious guess, never better than the last point).
        A group that was not analysed gets the mean score of the analysed groups at that ratio.
        """
        pts = self.curves.get(group_key)
        if ratio <= 0:
            return self.baseline
        if not pts:
            others = [self.score(k, ratio) for k in self.curves]
            return sum(others) / len(others) if others else self.baseline
        xs = [0.0] + [r for r, _ in pts]
        ys = [self.baseline] + [s for _, s in pts]
        if ratio >= xs[-1]:
            return ys[-1] * (1.0 - min(ratio, 1.0)) / (1.0 - xs[-1]) if xs[-1] < 1 else ys[-1]
        i = bisect.bisect_right(xs, ratio)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 + (y1 - y0) * (ratio - x0) / (x1 - x0)

    def drop(self, group_key: str, ratio: float) -> float:
        """Score lost (never negative) when ``group_key`` alone loses ``ratio`` of its channels."""
        return max(0.0, self.baseline - self.score(group_key, ratio))

    def drops(self) -> dict[str, dict[float, float]]:
        """Group key -> {ratio: measured score drop}."""
        return {k: {r: max(0.0, self.baseline - s) for r, s in pts} for k, pts in self.curves.items()}

    def weights(self, floor: float = 0.05) -> dict[str, float]:
        """Group key -> loss weight for the planner (``hwprune.plan(sensitivity=...)``).

        A group's weight is its mean measured score drop over the analysed ratios, divided by the
        mean over groups (so weights average 1); at least ``floor``, so a group that never hurt in
        the analysis is still not free to prune. All 1 when no group lost anything.
        """
        area = {
            k: sum(max(0.0, self.baseline - s) for _, s in pts) / len(pts)
            for k, pts in self.curves.items()
            if pts
        }
        mean = sum(area.values()) / len(area) if area else 0.0
        if mean <= 0:
            return dict.fromkeys(area, 1.0)
        return {k: max(floor, a / mean) for k, a in area.items()}

    def max_ratio_within(self, group_key: str, threshold: float, ratios: Sequence[float]) -> float:
        """The largest of ``ratios`` whose relative drop stays within ``threshold`` (Vitis ``threshold``)."""
        allowed = abs(self.baseline) * threshold
        best = 0.0
        for r in sorted(ratios):
            if self.drop(group_key, r) <= allowed:
                best = r
            else:
                break
        return best


def run_analysis(
    store: ResultStore,
    payload: EvalPayload,
    groups: Iterable[tuple[int, str, int, Sequence[int]]],
    ratios: Sequence[float],
    backend: Backend,
    *,
    progress: bool = True,
    desc: str = "ana",
) -> Sensitivity:
    """Fill ``store`` with the points it lacks, then return the sensitivity it holds.

    Args:
        store: the ``.sens`` store (results already in it are not recomputed).
        payload: the model, its inputs and the eval function (no calibration in ``ana``).
        groups: ``(group id, group key, size, channel order most important first)`` per group.
        ratios: pruning ratios to measure.
        backend: how to run the evaluations.
        progress: show a progress bar.
        desc: the bar's label.

    Returns:
        The sensitivity over every stored point (also points of other ratios or groups).
    """
    from tqdm.auto import tqdm

    tasks: list[EvalTask] = []
    if BASELINE not in store:
        tasks.append(EvalTask(BASELINE, (), "the unpruned model"))
    total = 1
    for gid, key, size, order in groups:
        for r in ratios:
            total += 1
            name = point_key(key, r)
            if name in store:
                continue
            k = kept_count(size, r)
            tasks.append(
                EvalTask(
                    name, ((gid, tuple(sorted(int(i) for i in order[:k]))),), f"group {key!r} at ratio {r:g}"
                )
            )
    with tqdm(total=total, initial=total - len(tasks), desc=desc, disable=not progress, leave=False) as bar:
        for i, score in backend.run(evaluate_subnet, payload, tasks):
            store.add(tasks[i].key, score)
            bar.update(1)
    store.mark_complete()
    return Sensitivity.from_records(store.records, where=str(store.path))
