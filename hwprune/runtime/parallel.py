"""Evaluate many candidates (subnets, sensitivity points) serially, in local processes or on Ray.

Every backend runs ``fn(payload, task)`` for each task and yields ``(index, result)`` as soon as a
result is ready, so the caller can store it at once (see :mod:`hwprune.runtime.store`) and a crash
loses only what was in flight. The payload (model, example inputs, the user's functions and their
arguments) is sent to each worker once, not with every task.

- ``"serial"``: in this process; the reference the others must agree with.
- ``"process"`` (default): a local process pool. Workers are forked where the platform allows, so
  functions defined in a script or a test module reach them without being importable, and run
  torch with one thread each (``torch.set_num_threads(1)``): N workers on N cores, no oversubscription.
  Workers die with their parent, even when it is killed with SIGKILL (no orphans holding memory).
- ``"ray"``: tasks on a Ray cluster (``pip install "hwprune[ray]"``); connects to ``address`` or
  starts a local instance. Functions whose module cannot be imported on the workers are pickled by
  value.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import importlib.util
import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from hwprune.errors import PruneConfigError

__all__ = [
    "Backend",
    "SerialBackend",
    "ProcessBackend",
    "RayBackend",
    "get_backend",
    "shares_memory",
    "BACKENDS",
]

TaskFn = Callable[[Any, Any], Any]


class Backend(Protocol):
    """Runs ``fn(payload, task)`` over tasks and yields ``(task index, result)`` as they finish."""

    @property
    def name(self) -> str:
        """A label for logs and run records (``"serial"``, ``"process"``, ``"ray"``)."""
        ...

    def run(self, fn: TaskFn, payload: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]: ...


@dataclass(frozen=True, slots=True)
class SerialBackend:
    """Evaluate tasks one after another in this process."""

    name: str = "serial"

    def run(self, fn: TaskFn, payload: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, fn(payload, task)


# Worker-side state of the process pool: set once per worker by the initializer.
_WORKER: dict[str, Any] = {}


def _die_with_parent(parent: int) -> None:
    """Make this worker exit when its parent dies, even by SIGKILL (no orphaned pool workers).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere a daemon thread polls the parent pid.
    """
    import signal

    armed = False
    if sys.platform.startswith("linux"):
        import ctypes
        import ctypes.util

        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            armed = libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            armed = False
    if not armed:
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="hwprune-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _init_worker(fn: TaskFn, payload: Any, threads: int, parent: int | None = None) -> None:
    if parent is not None:
        _die_with_parent(parent)
    torch.set_num_threads(threads)  # before any op: also keeps OpenMP from forking badly
    _WORKER["fn"] = fn
    _WORKER["payload"] = payload


def _run_in_worker(task: Any) -> Any:
    return _WORKER["fn"](_WORKER["payload"], task)


def _default_context() -> mp.context.BaseContext:
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


@dataclass(frozen=True, slots=True)
class ProcessBackend:
    """A local process pool.

    Args:
        workers: number of processes; defaults to the number of CPU cores.
        threads: torch threads per worker.
        start_method: ``"fork"`` (default on Linux), ``"spawn"`` or ``"forkserver"``; with the
            latter two, ``fn`` and the payload must be picklable and importable.
    """

    workers: int | None = None
    threads: int = 1
    start_method: str | None = None
    name: str = "process"

    def run(self, fn: TaskFn, payload: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if not tasks:
            return
        workers = max(1, min(self.workers or os.cpu_count() or 1, len(tasks)))
        ctx = mp.get_context(self.start_method) if self.start_method else _default_context()
        pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(fn, payload, self.threads, os.getpid()),
        )
        try:
            futures = {pool.submit(_run_in_worker, task): i for i, task in enumerate(tasks)}
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            # on an error, interruption or an abandoned generator: drop what has not started
            pool.shutdown(wait=True, cancel_futures=True)


def _importable(module: str | None) -> bool:
    if not module or module == "__main__":
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _by_value_modules(*objs: Any) -> set[Any]:
    """Modules of the given callables (and partials) that Ray's workers could not import."""
    out = set()
    for obj in objs:
        inner = getattr(obj, "func", obj)
        name = getattr(inner, "__module__", None)
        if name and name in sys.modules and not _importable(name):
            out.add(sys.modules[name])
    return out


def _payload_callables(payload: Any) -> list[Any]:
    """Callables held by a payload (a dataclass, a mapping or a tuple), to check for importability."""
    if dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        values = [getattr(payload, f.name) for f in dataclasses.fields(payload)]
    elif isinstance(payload, dict):
        values = list(payload.values())
    elif isinstance(payload, (tuple, list)):
        values = list(payload)
    else:
        values = []
    return [v for v in values if callable(v)]


@dataclass(frozen=True, slots=True)
class RayBackend:
    """Tasks on Ray: a cluster at ``address``, or a local instance started on first use.

    Args:
        address: a Ray cluster address (``"auto"``, ``"ray://host:10001"``); None starts locally.
        workers: CPUs of a locally started instance; defaults to all cores.
        threads: torch threads per task (and CPUs requested per task).
    """

    address: str | None = None
    workers: int | None = None
    threads: int = 1
    name: str = "ray"

    def run(self, fn: TaskFn, payload: Any, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        try:
            import ray
            import ray.cloudpickle as cloudpickle
        except ImportError as e:
            raise PruneConfigError(
                "backend='ray' needs Ray: pip install 'hwprune[ray]' (or pip install ray), "
                "or use backend='process'"
            ) from e
        if not tasks:
            return
        if not ray.is_initialized():
            ray.init(
                address=self.address,
                num_cpus=None if self.address else (self.workers or os.cpu_count()),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        for module in _by_value_modules(fn, *_payload_callables(payload)):
            cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]  # cloudpickle is unannotated
        threads = self.threads

        def _task(payload_: Any, task: Any) -> Any:
            torch.set_num_threads(threads)
            return fn(payload_, task)

        remote = ray.remote(num_cpus=threads)(_task)
        ref = ray.put(payload)
        pending = {remote.remote(ref, task): i for i, task in enumerate(tasks)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for r in done:
                    i = pending.pop(r)
                    yield i, ray.get(r)
        finally:
            for r in pending:
                ray.cancel(r)


def shares_memory(backend: Backend) -> bool:
    """True when the payload reaches workers without pickling (this process, or forked workers),
    so it may hold objects that do not pickle (a traced graph)."""
    if isinstance(backend, SerialBackend):
        return True
    if isinstance(backend, ProcessBackend):
        method = backend.start_method or _default_context().get_start_method()
        return method == "fork"
    return False


BACKENDS: dict[str, Callable[..., Backend]] = {
    "serial": SerialBackend,
    "process": ProcessBackend,
    "ray": RayBackend,
}


def get_backend(backend: str | Backend | None = "process", workers: int | None = None) -> Backend:
    """Resolve a backend name (``"serial"``, ``"process"``, ``"ray"``) or pass a backend through.

    Args:
        backend: a name, a backend object, or None for the default process pool.
        workers: number of workers (ignored by ``"serial"``); ``workers=1`` gives ``"serial"``.

    Raises:
        PruneConfigError: an unknown name.
    """
    if backend is None:
        backend = "process"
    if not isinstance(backend, str):
        return backend
    if backend not in BACKENDS:
        raise PruneConfigError(f"unknown backend {backend!r}; use one of {sorted(BACKENDS)}")
    if backend == "serial" or (backend == "process" and workers == 1):
        return SerialBackend()
    return BACKENDS[backend](workers=workers)
