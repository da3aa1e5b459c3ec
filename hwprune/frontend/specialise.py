"""Fallback tracing that specialises Python control flow on sizes and arguments to the example inputs.

Plain torch.fx cannot evaluate ``if h == 64:``, ``math.ceil(x.shape[-1] / s)`` (timm's "same" padding) or
``if return_features:``: sizes are proxies and extra arguments are unknown. When plain tracing fails,
:class:`ConcreteTracer` traces again while running the model on the example inputs: every tensor proxy
carries its real value, so a size read by Python code is an int (:class:`TracedSize`); used as an argument
of a torch op it stays a size node of the graph (``x.view(x.size(0), -1)`` keeps any batch), used in
Python arithmetic or comparisons it becomes a constant and the graph is specialised to that size. Forward
arguments beyond the example inputs are fixed to their defaults. Data-dependent control flow
(``if x.sum() > 0:``) still fails: only sizes are concrete. What was specialised is recorded in
``GraphSource.specialised``, so a plan made for one input size is refused for another with a clear error.
"""

from __future__ import annotations

import inspect
import operator
from typing import Any

import torch
from torch import fx, nn
from torch.fx._symbolic_trace import _orig_module_call

__all__ = ["ConcreteTracer", "TracedSize", "fixed_defaults", "drop_fixed_arguments", "specialisation_note"]


class TracedSize(int):
    """A size read while tracing: an int to Python, the matching ``size`` node to torch ops."""

    tracer: ConcreteTracer
    proxy: fx.Proxy
    dim: int
    __hash__ = int.__hash__  # comparisons are replaced below; hashing stays int's

    def __new__(cls, value: int, tracer: ConcreteTracer, proxy: fx.Proxy, dim: int) -> TracedSize:
        obj = super().__new__(cls, value)
        obj.tracer, obj.proxy, obj.dim = tracer, proxy, dim
        return obj

    def _fixed(self) -> int:
        self.tracer.note(f"{self.proxy.node.name}.size({self.dim}) = {int(self)}")
        return int(self)


def _specialising(name: str) -> Any:
    def method(self: TracedSize, *args: Any) -> Any:
        return getattr(int, name)(self._fixed(), *(int(a) if isinstance(a, TracedSize) else a for a in args))

    method.__name__ = name
    return method


for _name in (
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__floordiv__",
    "__rfloordiv__",
    "__mod__",
    "__rmod__",
    "__pow__",
    "__neg__",
    "__bool__",
    "__index__",
    "__float__",
    "__divmod__",
    "__lshift__",
    "__rshift__",
    "__and__",
    "__or__",
):
    setattr(TracedSize, _name, _specialising(_name))


class SizedProxy(fx.Proxy):
    """A proxy that knows its real value, so that sizes and ranks are plain Python values."""

    tracer: ConcreteTracer  # SizedProxy is made only by ConcreteTracer.proxy

    def _value(self) -> torch.Tensor | None:
        v = self.tracer.values.get(self.node)
        return v if isinstance(v, torch.Tensor) else None

    def size(self, dim: int | None = None) -> Any:
        v = self._value()
        if v is None:
            args = (self,) if dim is None else (self, dim)
            return self.tracer.create_proxy("call_method", "size", args, {})
        if dim is not None:
            return TracedSize(v.size(dim), self.tracer, self, dim % v.dim())
        return tuple(TracedSize(s, self.tracer, self, d) for d, s in enumerate(v.shape))

    @property
    def shape(self) -> Any:
        return self.size() if self._value() is not None else super().__getattr__("shape")

    def dim(self) -> Any:
        v = self._value()
        return v.dim() if v is not None else self.tracer.create_proxy("call_method", "dim", (self,), {})

    @property
    def ndim(self) -> Any:
        v = self._value()
        return v.dim() if v is not None else super().__getattr__("ndim")

    def __len__(self) -> int:
        v = self._value()
        if v is None:
            return super().__len__()
        return TracedSize(len(v), self.tracer, self, 0)._fixed()


class ConcreteTracer(fx.Tracer):
    """Mixin body for the hwprune tracer: proxies carry real values computed on copies of the inputs.

    Values are computed with ``torch.no_grad`` on clones of parameters, buffers and inputs, and leaf
    modules run in eval mode, so nothing of the model (running statistics included) changes.
    """

    def start(self, root: nn.Module, inputs: dict[str, torch.Tensor]) -> None:
        self.values: dict[fx.Node, Any] = {}
        self.inputs = inputs
        self.specialised: list[str] = []
        self._sizes: dict[tuple[fx.Node, int], fx.Node] = {}
        self._root = root
        self._quiet = False  # computing a value: module attributes are plain, module calls untraced

    def note(self, what: str) -> None:
        if what not in self.specialised:
            self.specialised.append(what)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return SizedProxy(node, self)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if self._quiet:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def create_arg(self, a: Any) -> Any:
        if isinstance(a, TracedSize) and a.tracer is self:
            key = (a.proxy.node, a.dim)
            if key not in self._sizes:
                self._sizes[key] = self.create_proxy("call_method", "size", (a.proxy, a.dim), {}).node
            return self._sizes[key]
        return super().create_arg(a)

    def create_proxy(
        self,
        kind: str,
        target: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None = None,
        type_expr: Any = None,
        proxy_factory_fn: Any = None,
    ) -> fx.Proxy:
        p = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        self._quiet = True
        try:
            with torch.no_grad():
                self.values[p.node] = self._run(kind, target, args, kwargs)
        except Exception:  # a value we cannot compute: its sizes stay symbolic, as in plain fx
            self.values[p.node] = None
        finally:
            self._quiet = False
        return p

    def _real(self, a: Any) -> Any:
        def one(x: Any) -> Any:
            if isinstance(x, fx.Proxy):
                v = self.values.get(x.node)
                if v is None:
                    raise LookupError("unknown value")
                return v
            if isinstance(x, torch.Tensor):  # a buffer passed as is (F.batch_norm's running stats): a copy
                return x.detach().clone()
            return int(x) if isinstance(x, TracedSize) else x

        return fx.node.map_aggregate(a, one)

    def _run(self, kind: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if kind == "placeholder":
            v = self.inputs.get(str(target))
            return v.clone() if isinstance(v, torch.Tensor) else None
        if kind == "get_attr":
            obj: Any = self._root
            for part in str(target).split("."):
                obj = getattr(obj, part)
            return obj.detach().clone() if isinstance(obj, torch.Tensor) else obj
        args, kwargs = self._real(args), self._real(kwargs)
        if kind == "call_function":
            return target(*args, **kwargs)
        if kind == "call_method":
            return getattr(args[0], target)(*args[1:], **kwargs)
        if kind == "call_module":
            mod = self._root.get_submodule(str(target))
            if next(mod.children(), None) is not None:
                return None  # its submodule calls would be traced (fx patches Module.__call__)
            was = mod.training
            mod.eval()  # shapes only: no running-statistics update on the shared weights
            try:
                return _orig_module_call(mod, *args, **kwargs)
            finally:
                mod.train(was)
        return None


def fixed_defaults(model: nn.Module, n_inputs: int) -> dict[str, Any]:
    """Forward arguments beyond the first ``n_inputs`` that have defaults: name -> default."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    out = {}
    for p in params[n_inputs:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            return {}  # a required argument we have no value for: nothing to fix
        out[p.name] = p.default
    return out


def drop_fixed_arguments(graph: fx.Graph) -> None:
    """Remove the placeholders and ``torch._assert`` guards fx adds for concrete arguments."""
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is torch._assert and not node.users:
            cond = node.args[0]
            graph.erase_node(node)
            if isinstance(cond, fx.Node) and cond.target is operator.eq and not cond.users:
                graph.erase_node(cond)
    for node in list(graph.nodes):
        if node.op == "placeholder" and not node.users and node.args:  # fixed args carry their default
            graph.erase_node(node)


def specialisation_note(source: Any) -> str:
    """Why a file made for this model may not fit another input size ("" when the graph is general).

    Args:
        source: a ``GraphSource`` (or None).
    """
    fixed = getattr(source, "specialised", ()) if source is not None else ()
    if not fixed:
        return ""
    shapes = " and ".join("x".join(map(str, shape)) for shape, _ in source.example_inputs)
    more = f" and {len(fixed) - 4} more" if len(fixed) > 4 else ""
    return (
        f"; {source.model_class}'s Python code was specialised to its example input {shapes} "
        f"({', '.join(fixed[:4])}{more}), so what was planned for one input size holds only for that "
        "size: plan again with an example input of the size the model will run at"
    )
