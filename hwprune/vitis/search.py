"""One-step search (Vitis ``search``, after EagleEye): sample subnets on the budget, calibrate, score.

Candidates come from :func:`~hwprune.vitis.sampling.sample_candidates` (deterministic per seed), each
is built as a slim subnet, its batch norms re-estimated (:func:`~hwprune.train.calibrate.adaptive_bn`)
and scored with the user's eval function. Results are appended to ``.hwprune/<model>.search`` as they
arrive (record ``"<index>"``: keep, ratios, cost, score), so an interrupted search resumes and a
finished one is reused; asking for more subnets later evaluates only the new ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hwprune.errors import StaleFileError
from hwprune.runtime.parallel import Backend
from hwprune.runtime.store import ResultStore
from hwprune.vitis.evaluate import EvalPayload, EvalTask, evaluate_subnet
from hwprune.vitis.sampling import Candidate

__all__ = ["SubnetResult", "run_search", "read_results", "best_result"]


@dataclass(frozen=True, slots=True)
class SubnetResult:
    """One evaluated candidate.

    Attributes:
        index: its index in the candidate sequence.
        keep: kept channels per group key.
        ratios: pruning ratio per group key.
        cost: cycles (latency budget) or MACs (removal ratio).
        score: eval score after adaptive-BN calibration.
    """

    index: int
    keep: Mapping[str, int]
    ratios: Mapping[str, float]
    cost: int
    score: float


def _record(c: Candidate, score: float) -> dict[str, Any]:
    return {"keep": dict(c.keep), "ratios": dict(c.ratios), "cost": c.cost, "score": score}


def read_results(store: ResultStore) -> list[SubnetResult]:
    """The evaluated candidates of a ``.search`` store, by index.

    Raises:
        StaleFileError: a record is malformed.
    """
    out = []
    for name, rec in store.items():
        try:
            out.append(
                SubnetResult(
                    int(name),
                    {str(k): int(v) for k, v in rec["keep"].items()},
                    {str(k): float(v) for k, v in rec["ratios"].items()},
                    int(rec["cost"]),
                    float(rec["score"]),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StaleFileError(
                f"search file {store.path} has a malformed record {name!r} ({e}); rerun search with forced=True"
            ) from e
    return sorted(out, key=lambda r: r.index)


def best_result(results: Sequence[SubnetResult]) -> SubnetResult:
    """The highest-scoring candidate (the lowest index among ties)."""
    return max(results, key=lambda r: (r.score, -r.index))


def run_search(
    store: ResultStore,
    payload: EvalPayload,
    candidates: Sequence[Candidate],
    orders: Mapping[str, tuple[int, Sequence[int]]],
    backend: Backend,
    *,
    progress: bool = True,
    desc: str = "search",
) -> list[SubnetResult]:
    """Evaluate the candidates ``store`` lacks and return every stored result.

    Args:
        store: the ``.search`` store.
        payload: model, inputs, eval and calibration functions.
        candidates: the candidate sequence to cover.
        orders: group key -> (group id, channel order most important first).
        backend: how to run the evaluations.
        progress: show a progress bar.
        desc: the bar's label.

    Returns:
        All results in the store, by index.
    """
    from tqdm.auto import tqdm

    todo = [c for c in candidates if str(c.index) not in store]
    tasks = []
    for c in todo:
        keep = tuple(
            (orders[key][0], tuple(sorted(int(i) for i in orders[key][1][:k])))
            for key, k in c.keep
            if k < len(orders[key][1])
        )
        tasks.append(EvalTask(str(c.index), keep, f"subnet {c.index}"))
    with tqdm(
        total=len(candidates),
        initial=len(candidates) - len(todo),
        desc=desc,
        disable=not progress,
        leave=False,
    ) as bar:
        for i, score in backend.run(evaluate_subnet, payload, tasks):
            store.add(str(todo[i].index), _record(todo[i], score))
            bar.update(1)
    store.mark_complete()
    return read_results(store)
