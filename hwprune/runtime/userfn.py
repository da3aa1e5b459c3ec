"""Calling a user's eval or calibration function: its failures become clear :class:`EvalFnError`s.

Vitis AI's convention: the function takes the model first, then the user's ``args`` tuple; an eval
function returns a score where higher is better (accuracy, mAP, ...).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from hwprune.errors import EvalFnError

__all__ = ["describe", "identity", "call_eval", "call_calibration", "as_args"]


def describe(fn: Callable[..., Any]) -> str:
    """A short name for ``fn`` to put in messages (``module.qualname`` where there is one)."""
    inner = getattr(fn, "func", fn)  # functools.partial
    name = getattr(inner, "__qualname__", None) or type(inner).__name__
    module = getattr(inner, "__module__", None)
    return f"{module}.{name}" if module else name


def identity(fn: Callable[..., Any] | None) -> str | None:
    """What a result file records of a user function so a rerun with another one is noticed:
    ``module.qualname`` (partial: plus its bound arguments' types); None for a lambda, whose
    identity cannot be told apart from another lambda's."""
    if fn is None:
        return "none"
    name = describe(fn)
    if "<lambda>" in name:
        return None
    bound = getattr(fn, "args", None) if hasattr(fn, "func") else None
    return f"{name}({', '.join(type(a).__name__ for a in bound)})" if bound else name


def as_args(args: Any, what: str = "args") -> tuple[Any, ...]:
    """Vitis passes ``args`` as a tuple; accept a list too, and name the mistake otherwise.

    Raises:
        EvalFnError: ``args`` is not a tuple or list (e.g. a single loader passed bare).
    """
    if isinstance(args, tuple):
        return args
    if isinstance(args, list):
        return tuple(args)
    raise EvalFnError(
        f"{what} must be a tuple of extra arguments for the function, got {type(args).__name__}; "
        f"write {what}=(value,) to pass one value"
    )


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # 0-d torch tensors and numpy scalars
    shape = getattr(value, "shape", None)
    if callable(item) and shape is not None and len(tuple(shape)) == 0:
        out = item()
        return float(out) if isinstance(out, numbers.Real) and not isinstance(out, bool) else None
    return None


def call_eval(fn: Callable[..., Any], model: Any, args: Sequence[Any] = (), *, where: str = "") -> float:
    """Run ``fn(model, *args)`` and return its score as a float.

    Args:
        fn: the user's eval function (model first, returns a number; higher is better).
        model: the model to evaluate.
        args: extra positional arguments.
        where: what was being evaluated, for the message (e.g. ``"group 'conv1' at ratio 0.3"``).

    Returns:
        The score.

    Raises:
        EvalFnError: ``fn`` raised an ``Exception`` or returned something that is not a finite
            real number. ``KeyboardInterrupt`` and other ``BaseException``\\ s pass through.
    """
    at = f" while evaluating {where}" if where else ""
    try:
        value = fn(model, *args)
    except Exception as e:
        raise EvalFnError(
            f"eval_fn {describe(fn)} raised {type(e).__name__}: {e}{at}; fix the function "
            "(it is called as eval_fn(model, *args) and must return a score), then rerun: "
            "results already stored are reused"
        ) from e
    score = _to_float(value)
    if score is None or not math.isfinite(score):
        raise EvalFnError(
            f"eval_fn {describe(fn)} returned {value!r} ({type(value).__name__}){at}; it must return "
            "a finite number (e.g. accuracy as a float)"
        )
    return score


def call_calibration(
    fn: Callable[..., Any],
    model: Any,
    args: Sequence[Any] = (),
    *,
    where: str = "",
    role: str = "calibration_fn",
) -> None:
    """Run ``fn(model, *args)``; its return value is ignored.

    Args:
        fn: the user's function (a calibration or fine-tune function).
        model: the model it works on.
        args: extra positional arguments.
        where: what is being done, for the message.
        role: the function's name in the API, for the message.

    Raises:
        EvalFnError: ``fn`` raised an ``Exception``.
    """
    try:
        fn(model, *args)
    except Exception as e:
        at = f" during {where}" if where else ""
        raise EvalFnError(
            f"{role} {describe(fn)} raised {type(e).__name__}: {e}{at}; it is called as "
            f"{role}(model, *args); fix it and rerun: finished work is reused"
        ) from e


def load_callable(
    spec: str, flag: str, error: type[Exception], hint: str = "'package.module:factory'"
) -> Any:
    """The callable named by ``"package.module:name"``; each way it can be wrong is an ``error`` naming ``flag``.

    Args:
        spec: ``"package.module:name"``.
        flag: the option it came from, for the message (e.g. ``"--model"``).
        error: the exception type to raise.
        hint: what to write instead, for the message.
    """
    import importlib

    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise error(f"{flag} {spec!r}: give {hint}")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise error(f"{flag} {spec!r}: cannot import {mod_name!r} ({e}); is it on PYTHONPATH?") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise error(f"{flag} {spec!r}: {mod_name} has no callable {attr!r}")
    return fn
