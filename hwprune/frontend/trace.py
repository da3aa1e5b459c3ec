"""``hwprune.trace``: torch.fx symbolic trace + shape propagation -> IR ``Graph``.

The user's model is deep-copied before tracing and never touched. When plain fx tracing fails, the model
is traced again with Python control flow on sizes and extra forward arguments specialised to the example
inputs (:mod:`hwprune.frontend.specialise`; recorded in ``GraphSource.specialised``). A model neither
can trace raises ``TraceError`` naming the innermost module being traced and the source line, and
suggesting ``leaf_modules=(...)`` to treat that submodule as an opaque leaf.
"""

from __future__ import annotations

import copy
import inspect
import os
import traceback
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import fx, nn

from hwprune.errors import TraceError
from hwprune.frontend.classify import classify
from hwprune.frontend.sparsity import module_sparsity
from hwprune.frontend.specialise import ConcreteTracer, drop_fixed_arguments, fixed_defaults
from hwprune.ir.graph import Graph, GraphSource, Op, Value
from hwprune.ir.kinds import OpKind

__all__ = ["trace", "as_input_tuple"]

_TORCH_DIR = os.path.dirname(torch.__file__)
_SAME_SHAPE = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.ReLU,
    nn.ReLU6,
    nn.Identity,
    nn.Dropout,
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
)


def as_input_tuple(example_inputs: Any) -> tuple[torch.Tensor, ...]:
    """Normalise ``example_inputs`` (a tensor or a tuple/list of tensors) to a tuple of tensors."""
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if (
        isinstance(example_inputs, (tuple, list))
        and example_inputs
        and all(isinstance(t, torch.Tensor) for t in example_inputs)
    ):
        return tuple(example_inputs)
    raise TraceError(
        f"example_inputs must be a tensor or a non-empty tuple of tensors, got {type(example_inputs).__name__}; "
        "pass e.g. torch.randn(1, 3, 224, 224)"
    )


class _Tracer(fx.Tracer):
    """An fx tracer that treats named submodules as leaves and remembers where tracing failed."""

    def __init__(self, leaf_names: frozenset[str], leaf_types: tuple[type, ...]) -> None:
        super().__init__()
        self.leaf_names = leaf_names
        self.leaf_types = leaf_types
        self.stack: list[str] = []
        self.failed_in: str | None = None
        self.typed_leaves: set[str] = set()  # names of modules made leaves by their type

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if module_qualified_name in self.leaf_names:
            return True
        if self.leaf_types and isinstance(m, self.leaf_types):
            self.typed_leaves.add(module_qualified_name)
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        self.stack.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = self.stack[-1]
            raise
        finally:
            self.stack.pop()


def _user_frame(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_TORCH_DIR)]
    if not frames:
        return "unknown source line"
    f = frames[-1]
    return f"{f.filename}:{f.lineno} ({(f.line or '').strip()})"


def _summarise(result: Any) -> dict[str, Any]:
    if isinstance(result, torch.Tensor):
        return {
            "shape": tuple(int(d) for d in result.shape),
            "dtype": str(result.dtype).replace("torch.", ""),
        }
    if isinstance(result, (tuple, list)) and result and all(isinstance(t, torch.Tensor) for t in result):
        return {"parts": tuple(tuple(int(d) for d in t.shape) for t in result)}
    if isinstance(result, torch.Size):
        return {"const": tuple(int(d) for d in result)}
    if isinstance(result, (int, float, bool, str)) or result is None:
        return {"const": result}
    if isinstance(result, (tuple, list)) and all(isinstance(x, (int, float, bool)) for x in result):
        return {"const": tuple(result)}
    return {}


class _Recorder(fx.Interpreter):
    """Runs the traced module once and records the shape (or constant) of every node's result."""

    def __init__(self, gm: fx.GraphModule, shortcut: bool = False) -> None:
        super().__init__(gm)
        self.meta: dict[str, dict[str, Any]] = {}
        self.shortcut = shortcut

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        if (
            self.shortcut
            and type(self.fetch_attr(target)) in _SAME_SHAPE
            and isinstance(args[0], torch.Tensor)
        ):
            return args[0]  # meta BatchNorm runs slow Python decompositions; its shape is its input's
        return super().call_module(target, args, kwargs)

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        self.meta[n.name] = _summarise(result)
        return result


def _propagate(gm: fx.GraphModule, inputs: tuple[torch.Tensor, ...]) -> dict[str, dict[str, Any]]:
    modes = {name: m.training for name, m in gm.named_modules()}
    gm.eval()  # shape propagation must not update BN running statistics of the weights we emit later
    try:
        for runner in (_run_meta, _run_fake, _run_real):
            try:
                return runner(gm, inputs)
            except Exception:  # an op this mode cannot run (data-dependent, unsupported): try the next
                if runner is _run_real:
                    raise
        raise AssertionError("unreachable")
    finally:
        for name, m in gm.named_modules():
            m.training = modes[name]


def _run_meta(gm: fx.GraphModule, inputs: tuple[torch.Tensor, ...]) -> dict[str, dict[str, Any]]:
    """Shapes from meta tensors: weights and inputs swapped for storage-less copies, no arithmetic."""
    from torch.nn.utils.stateless import _reparametrize_module

    tensors = {
        **dict(gm.named_parameters(remove_duplicate=False)),
        **dict(gm.named_buffers(remove_duplicate=False)),
    }
    meta = {k: torch.empty_like(v, device="meta") for k, v in tensors.items()}
    rec = _Recorder(gm, shortcut=True)
    with _reparametrize_module(gm, meta), torch.no_grad():
        rec.run(*(torch.empty_like(t, device="meta") for t in inputs))
    return rec.meta


def _run_fake(gm: fx.GraphModule, inputs: tuple[torch.Tensor, ...]) -> dict[str, dict[str, Any]]:
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode(allow_non_fake_inputs=True)
    rec = _Recorder(gm)
    with mode, torch.no_grad():
        rec.run(*(mode.from_tensor(t) for t in inputs))
    return rec.meta


def _run_real(gm: fx.GraphModule, inputs: tuple[torch.Tensor, ...]) -> dict[str, dict[str, Any]]:
    rec = _Recorder(gm)
    with torch.no_grad():
        rec.run(*inputs)
    return rec.meta


def trace(model: nn.Module, example_inputs: Any, *, leaf_modules: Sequence[str | type] = ()) -> Graph:
    """Trace ``model`` into an IR graph with static shapes.

    Args:
        model: the user's module; never mutated. The graph keeps a private copy of its module tree that
            shares (and never writes to) its parameter tensors; emitted models get fresh tensors.
        example_inputs: a tensor or a tuple of tensors, as passed to ``model(*example_inputs)``.
        leaf_modules: submodule qualified names (or module types) to keep as opaque leaves instead of
            tracing into them; use it for submodules with data-dependent control flow.

    Returns:
        The ``Graph``; ``graph.source`` keeps the traced copy (weights are read from it when emitting).

    Raises:
        TraceError: the model cannot be traced (names the module and source line), or the example inputs
            do not run through it.
    """
    if not isinstance(model, nn.Module):
        raise TraceError(f"hwprune.trace needs an nn.Module, got {type(model).__name__}")
    inputs = as_input_tuple(example_inputs)
    names = frozenset(x for x in leaf_modules if isinstance(x, str))
    types = tuple(x for x in leaf_modules if isinstance(x, type))
    known = {n for n, _ in model.named_modules()}
    unknown = sorted(n for n in names if n not in known)
    if unknown:
        raise TraceError(
            f"leaf_modules names {unknown} that are not submodules of {type(model).__name__}; "
            "use qualified names as in model.named_modules()"
        )
    # a private module tree; parameter/buffer tensors are shared (read-only here) so tracing stays cheap
    memo = {id(t): t for t in (*model.parameters(), *model.buffers())}
    private = copy.deepcopy(model, memo)
    tracer = _Tracer(names, types)
    specialised: tuple[str, ...] = ()
    try:
        fx_graph = tracer.trace(private)
    except Exception as e:
        retry = _trace_specialised(private, names, types, inputs)
        if retry is not None:
            fx_graph, specialised, tracer = retry
        else:
            _raise_trace_error(model, tracer, e)
    gm = fx.GraphModule(private, fx_graph, class_name=type(model).__name__)
    try:
        meta = _propagate(gm, inputs)
    except Exception as e:
        raise TraceError(
            f"the example inputs do not run through {type(model).__name__} ({type(e).__name__}: {e}); "
            "pass inputs of the shape and dtype the model expects"
        ) from e
    leaves = tuple(sorted({*names, *tracer.typed_leaves}))  # by name, so a spec can re-trace without types
    return _lower(gm, meta, leaves, inputs, type(model).__name__, specialised)


def _raise_trace_error(model: nn.Module, tracer: _Tracer, e: Exception) -> None:
    where = tracer.failed_in or "<top level>"
    hint = f"leaf_modules=({where!r},)" if tracer.failed_in else "leaf_modules=(...) naming the submodule"
    raise TraceError(
        f"torch.fx cannot trace {type(model).__name__}: in module {where!r} at {_user_frame(e)}: "
        f"{type(e).__name__}: {e}. Treat that submodule as an opaque leaf with "
        f"hwprune.trace(model, x, {hint}); channels will not be pruned through it"
    ) from e


class _ConcreteTracer(ConcreteTracer, _Tracer):
    """The hwprune tracer with real values behind its proxies (see :mod:`hwprune.frontend.specialise`)."""


def _trace_specialised(
    private: nn.Module, names: frozenset[str], types: tuple[type, ...], inputs: tuple[torch.Tensor, ...]
) -> tuple[fx.Graph, tuple[str, ...], _Tracer] | None:
    """Trace again with sizes and extra forward arguments fixed to the example; None if that fails too."""
    fixed = fixed_defaults(private, len(inputs))
    try:
        arg_names = list(inspect.signature(private.forward).parameters)[: len(inputs)]
    except (TypeError, ValueError):
        return None
    tracer = _ConcreteTracer(names, types)
    tracer.start(private, dict(zip(arg_names, inputs, strict=False)))
    try:
        graph = tracer.trace(private, concrete_args=fixed or None)
    except Exception:
        return None
    drop_fixed_arguments(graph)
    notes = (*(f"argument {k}={v!r}" for k, v in fixed.items()), *tracer.specialised)
    return graph, notes or ("control flow on the example input",), tracer


def _lower(
    gm: fx.GraphModule,
    meta: dict[str, dict[str, Any]],
    leaves: tuple[str, ...],
    inputs: tuple[torch.Tensor, ...],
    model_class: str,
    specialised: tuple[str, ...] = (),
) -> Graph:
    shapes = {k: v.get("shape", v.get("parts")) for k, v in meta.items()}
    ops: list[Op] = []
    values: list[Value] = []
    used: dict[str, int] = {}
    graph_inputs: list[str] = []
    graph_outputs: list[str] = []
    for node in gm.graph.nodes:
        m = meta.get(node.name, {})
        node.meta["hwprune_shape"] = m.get("shape")
        node.meta["hwprune_parts"] = m.get("parts")
        out_is_tensor = "shape" in m or "parts" in m
        kind, target, attrs = classify(node, gm, shapes, out_is_tensor)
        if kind is OpKind.CAT and "shape" in m:
            attrs["dim"] %= len(m["shape"])
        k = 0
        if node.op == "call_module":
            k = used.get(target, 0)
            used[target] = k + 1
            name = target if k == 0 else f"{target}#{k}"
        else:
            name = node.name
        ins = tuple(a.name for a in _flat_nodes((node.args, node.kwargs)))
        if node.op == "output":
            graph_outputs.extend(ins)
        if node.op == "placeholder":
            graph_inputs.append(node.name)
        values.append(
            Value(node.name, m.get("shape"), m.get("dtype"), m.get("parts"), _freeze(m.get("const")))
        )
        sparsity = (
            module_sparsity(gm.get_submodule(target))
            if kind in (OpKind.CONV, OpKind.LINEAR) and node.op == "call_module"
            else None
        )
        ops.append(
            Op(
                name,
                kind,
                target,
                ins,
                node.name,
                tuple(sorted((k, _freeze(v)) for k, v in attrs.items())),
                node.name,
                sparsity,
                k,
            )
        )
    example = tuple((tuple(t.shape), str(t.dtype).replace("torch.", "")) for t in inputs)
    source = GraphSource(gm, leaves, example, model_class, specialised)
    return Graph(_mark_weights(ops), tuple(values), tuple(graph_inputs), tuple(graph_outputs), source=source)


def _mark_weights(ops: list[Op]) -> tuple[Op, ...]:
    """Tag the parameters functional convs/linears take their weight from (``weight_of``: the first such op)."""
    owner: dict[str, str] = {}
    for op in ops:
        if op.kind in (OpKind.CONV, OpKind.LINEAR) and op.attr("weight_param"):
            owner.setdefault(op.attr("weight_param"), op.name)
    out = []
    for op in ops:
        if op.kind is OpKind.PARAM and op.target in owner:
            op = replace(op, attrs=tuple(sorted((*op.attrs, ("weight_of", owner[op.target])))))
        elif (
            op.attr("weight_param") and owner[op.attr("weight_param")] != op.name
        ):  # counted once, by the first
            op = replace(op, attrs=tuple(sorted((*op.attrs, ("shared_weight", True)))))
        out.append(op)
    return tuple(out)


def _flat_nodes(obj: Any) -> list[fx.Node]:
    out: list[fx.Node] = []

    def collect(n: fx.Node) -> fx.Node:
        out.append(n)
        return n

    fx.node.map_arg(obj, collect)
    return out


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, tuple):
        return tuple(_freeze(x) for x in v)
    return v
