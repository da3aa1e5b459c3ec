"""IR nodes: frozen, slotted ``Value``/``Op``/``Graph`` with tuple fields and lookups by name.

A ``Graph`` is built once by the frontend (``hwprune.trace``) and changed only by passes that return a
new graph (``dataclasses.replace``). Each op wraps one torch.fx node; its ``name`` is the module's
qualified name where there is one (what users pass as ``excludes``), else the fx node name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hwmodel.workloads.layers import LayerSparsity
from hwprune.errors import TraceError
from hwprune.ir.kinds import OpKind

__all__ = ["Value", "Op", "Graph", "GraphSource"]

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Value:
    """A value flowing between ops.

    Attributes:
        name: unique name (the fx node name of its producer).
        shape: static shape of a tensor value, else None.
        dtype: torch dtype name of a tensor value (e.g. "float32"), else None.
        parts: shapes of the tensors of a tuple-of-tensors value (split/chunk), else None.
        const: the python value of a non-tensor value (a size, a tuple of ints), else None.
    """

    name: str
    shape: Shape | None = None
    dtype: str | None = None
    parts: tuple[Shape, ...] | None = None
    const: Any = None

    @property
    def is_tensor(self) -> bool:
        return self.shape is not None

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape or ():
            n *= d
        return n


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of the graph.

    Attributes:
        name: module qualified name for module calls (``"layer1.0.conv1"``), else the fx node name.
        kind: what it computes.
        target: module path for module calls, qualified function/method name otherwise.
        inputs: names of the tensor/non-tensor values it reads, in argument order.
        output: name of the value it produces.
        attrs: normalised literal arguments as sorted (key, value) pairs; see :meth:`attr`.
        node: the name of the fx node this op came from.
        sparsity: what a sparse engine may skip in this conv/linear (weight N:M, activation
            sparsity), as masked models (``hwprune.apply``, ``SparsePruner``) carry it; None: dense.
        call: for a module called more than once, which call this is (0: the first, named after the
            module; call ``k`` is named ``"<module>#<k>"``); 0 for every other op.
    """

    name: str
    kind: OpKind
    target: str
    inputs: tuple[str, ...]
    output: str
    attrs: tuple[tuple[str, Any], ...] = ()
    node: str = ""
    sparsity: LayerSparsity | None = None
    call: int = 0

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.output,)

    def attr(self, key: str, default: Any = None) -> Any:
        """The attribute ``key``, or ``default`` when absent."""
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    @property
    def attr_map(self) -> dict[str, Any]:
        return dict(self.attrs)


class GraphSource:
    """The traced torch.fx GraphModule (over a private deep copy of the user's model) a Graph came from.

    Not part of the IR's value semantics: it is shared between a graph and the graphs passes derive from
    it, and it is where weights are read from when a slim model is emitted.
    """

    __slots__ = ("gm", "leaf_modules", "example_inputs", "model_class", "specialised", "nodes", "cache")

    def __init__(
        self,
        gm: Any,
        leaf_modules: tuple[str, ...],
        example_inputs: tuple[Any, ...],
        model_class: str,
        specialised: tuple[str, ...] = (),
    ) -> None:
        self.gm = gm
        self.leaf_modules = leaf_modules
        self.example_inputs = example_inputs  # (shape, dtype name) per model input
        self.model_class = model_class
        # what tracing fixed to the example inputs (sizes read by Python code, extra forward arguments);
        # empty when the graph holds for any input size
        self.specialised = specialised
        self.nodes = {node.name: node for node in gm.graph.nodes}
        self.cache: dict[Any, Any] = {}  # analyses of graphs built on this source; dies with it


@dataclass(frozen=True, slots=True)
class Graph:
    """Ops in topological order over named values.

    Attributes:
        ops: the ops, producers before consumers.
        values: every value, in creation order.
        inputs: names of the model-input values.
        outputs: names of the values the model returns.
        selection: for a pruned graph, ``(value name, dim, kept original positions)`` for every value
            whose channel dim lost entries; empty for an unpruned graph.
        source: where the graph came from (see :class:`GraphSource`); ignored by ``==``.
    """

    ops: tuple[Op, ...]
    values: tuple[Value, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    selection: tuple[tuple[str, int, tuple[int, ...]], ...] = ()
    source: GraphSource | None = field(default=None, compare=False, repr=False)
    _ops_by_name: Mapping[str, Op] = field(init=False, compare=False, repr=False)
    _values_by_name: Mapping[str, Value] = field(init=False, compare=False, repr=False)
    _producer: Mapping[str, Op] = field(init=False, compare=False, repr=False)
    _consumers: Mapping[str, tuple[Op, ...]] = field(init=False, compare=False, repr=False)
    _selected: Mapping[str, tuple[int, tuple[int, ...]]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ops_by_name", {op.name: op for op in self.ops})
        object.__setattr__(self, "_values_by_name", {v.name: v for v in self.values})
        object.__setattr__(self, "_producer", {op.output: op for op in self.ops})
        consumers: dict[str, list[Op]] = {}
        for op in self.ops:
            for v in dict.fromkeys(op.inputs):
                consumers.setdefault(v, []).append(op)
        object.__setattr__(self, "_consumers", {k: tuple(v) for k, v in consumers.items()})
        object.__setattr__(self, "_selected", {v: (d, idx) for v, d, idx in self.selection})

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def op(self, name: str) -> Op:
        """The op called ``name``; a ``KeyError`` names close matches."""
        try:
            return self._ops_by_name[name]
        except KeyError:
            raise KeyError(_missing("op", name, self._ops_by_name)) from None

    def has_op(self, name: str) -> bool:
        return name in self._ops_by_name

    def value(self, name: str) -> Value:
        """The value called ``name``."""
        try:
            return self._values_by_name[name]
        except KeyError:
            raise KeyError(_missing("value", name, self._values_by_name)) from None

    def tensor_shape(self, value: str) -> Shape:
        """The static shape of tensor value ``value``.

        Raises:
            TraceError: the value has no static shape (not a tensor, or traced without its size).
        """
        shape = self.value(value).shape
        if shape is None:
            raise TraceError(f"value {value!r} has no static shape; trace the model with example inputs")
        return shape

    def producer(self, value: str) -> Op:
        """The op that produces ``value``."""
        return self._producer[value]

    def consumers(self, value: str) -> tuple[Op, ...]:
        """The ops that read ``value``, in graph order."""
        return self._consumers.get(value, ())

    def tensor_inputs(self, op: Op) -> list[str]:
        """The inputs of ``op`` that are tensors (not ints, sizes or other constants), in order."""
        return [v for v in op.inputs if self.value(v).is_tensor]

    def ops_of(self, *kinds: OpKind) -> tuple[Op, ...]:
        """The ops of the given kinds, in graph order."""
        return tuple(op for op in self.ops if op.kind in kinds)

    def module(self, name: str) -> Any:
        """The (private copy of the) original ``nn.Module`` behind op ``name``, or None for a function op."""
        op = self.op(name)
        if self.source is None or op.kind in (OpKind.INPUT, OpKind.OUTPUT):
            return None
        node = self.source.nodes[op.node]
        if node.op != "call_module":
            return None
        return self.source.gm.get_submodule(str(node.target))

    def selected(self, value: str) -> tuple[int, tuple[int, ...]] | None:
        """``(dim, kept original positions)`` of a pruned value, or None when it kept everything."""
        return self._selected.get(value)

    def replace(self, **changes: Any) -> Graph:
        """A copy with fields replaced (the source is carried over unless given)."""
        changes.setdefault("source", self.source)
        return replace(self, **changes)


def _missing(what: str, name: str, known: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"no {what} named {name!r} in the graph{hint}"
