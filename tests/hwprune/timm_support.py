"""Run hwprune over timm CNN families (``pretrained=False``): the harness of the timm benchmark and test.

timm is not a dependency of hwprune (nor in the ``test`` extra). It imports torchvision, whose compiled
ops do not load on the pinned torch; :func:`import_timm` makes ``torch.library.register_fake`` tolerant
of failures during that import only (here, in the harness; never in hwprune) and restores it after.

Per model :func:`evaluate` traces, finds channel groups, prunes at ``ratio`` with L1 importance, runs the
slim model, and compares the parameters kept with what a uniform ``ratio`` would keep if every channel
except the model's input and output could be pruned (weights scale with kept inputs x kept outputs).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch

# one or two small members per family: 60 families
FAMILIES = [
    "resnet18",
    "resnetv2_50",
    "efficientnet_lite0",
    "efficientnet_b0",
    "tf_efficientnet_b0",
    "mobilenetv2_050",
    "mobilenetv3_small_050",
    "mobilenetv4_conv_small",
    "regnetx_002",
    "regnety_002",
    "darknet17",
    "cs3darknet_s",
    "cspresnet50",
    "densenet121",
    "inception_v3",
    "inception_v4",
    "repvgg_a0",
    "mnasnet_small",
    "fbnetc_100",
    "gernet_s",
    "mobileone_s0",
    "lcnet_050",
    "tinynet_a",
    "hrnet_w18_small",
    "dla34",
    "dla46_c",
    "dpn48b",
    "vgg11_bn",
    "rexnet_100",
    "ghostnet_100",
    "ghostnetv2_100",
    "repghostnet_050",
    "convnext_atto",
    "convnextv2_atto",
    "nf_resnet26",
    "nfnet_l0",
    "res2net50_26w_4s",
    "resnest14d",
    "skresnet18",
    "selecsls42b",
    "hardcorenas_a",
    "mixnet_s",
    "semnasnet_050",
    "spnasnet_100",
    "efficientnetv2_rw_t",
    "tf_efficientnetv2_b0",
    "resnext26ts",
    "seresnext26d_32x4d",
    "ecaresnet26t",
    "ese_vovnet19b_dw",
    "legacy_seresnet18",
    "gcresnet33ts",
    "regnetz_b16",
    "mobilevit_xxs",
    "hgnetv2_b0",
    "xception41",
    "tresnet_m",
    "resnetrs50",
    "vgg11",
    "darknet53",
]


def import_timm() -> Any:
    """Import timm (and torchvision) with a register_fake that tolerates torchvision's missing ops."""
    import torch.library

    original = torch.library.register_fake

    def tolerant(*args: Any, **kwargs: Any) -> Any:
        try:
            deco = original(*args, **kwargs)
        except Exception:
            return lambda fn: fn

        def apply(fn: Any) -> Any:
            try:
                return deco(fn)
            except Exception:
                return fn

        return apply

    torch.library.register_fake = tolerant
    try:
        import timm
    finally:
        torch.library.register_fake = original
    return timm


@dataclass
class Row:
    """What happened to one model."""

    name: str
    params: int = 0
    groups: int = 0
    prunable: int = 0
    opaque: int = 0
    kept: float = math.nan  # parameters kept at the ratio
    uniform: float = math.nan  # what a uniform ratio over every non-I/O channel would keep
    ok: bool = False  # slim model built and runs with the original output shape
    exact0: bool = False  # ratio 0 reproduces the original output
    seconds: float = 0.0
    error: str = ""
    reasons: Counter = field(default_factory=Counter)

    @property
    def excess(self) -> float:
        return self.kept - self.uniform


def _uniform_kept(graph: Any, analysis: Any, ratio: float) -> float:
    """Share of parameters kept if every group not fixed by the model's input/output kept 1 - ratio."""
    from hwprune.analysis.counts import count
    from hwprune.ir.kinds import OpKind

    keep = 1.0 - ratio
    factor: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for g in analysis.groups:
        io = any(s.role == "pin" and ("model input" in s.note or "model output" in s.note) for s in g.slots)
        for s in g.slots:
            if s.role in ("in", "out", "param"):
                factor.setdefault((s.op, s.role), []).append((1.0 if io else keep, s.length * s.reps))

    def f(op: str, role: str) -> float:
        parts = factor.get((op, role))
        if not parts:
            return 1.0
        return sum(a * n for a, n in parts) / sum(n for _, n in parts)

    total = kept = 0.0
    for row in count(graph).per_op:
        op = graph.op(row.op)
        if op.kind in (OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR):
            depthwise = op.kind is not OpKind.LINEAR and op.attr("in_channels") == op.attr("groups") > 1
            share = f(op.name, "out") * (1.0 if depthwise else f(op.name, "in"))
        else:
            share = f(op.name, "param") if (op.name, "param") in factor else f(op.name, "out")
        total += row.params
        kept += row.params * share
    return kept / total if total else 1.0


def evaluate(timm: Any, name: str, size: int = 128, ratio: float = 0.3) -> Row:
    """Trace, analyse and prune one timm model; never raises (errors go into ``Row.error``)."""
    import hwprune
    from hwprune.analysis.groups import analyze
    from hwprune.emit.module import emit
    from hwprune.ir.kinds import OpKind

    row = Row(name)
    t0 = time.perf_counter()
    try:
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, num_classes=10).eval()
        x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        row.params = sum(p.numel() for p in model.parameters())
        graph = hwprune.trace(model, x)
        analysis = analyze(graph)
        row.groups = len(analysis.groups)
        row.prunable = sum(g.prunable and g.size > 1 for g in analysis.groups)
        opaque = graph.ops_of(OpKind.OPAQUE)
        row.opaque = len(opaque)
        row.reasons = Counter(str(op.attr("why") or op.target) for op in opaque)
        with torch.no_grad():
            ref = model(x)
            row.exact0 = bool(torch.allclose(emit(graph).eval()(x), ref, rtol=1e-4, atol=1e-5))
            slim = hwprune.prune(model, x, ratio=ratio).eval()
            out = slim(x)
        row.ok = out.shape == ref.shape and bool(torch.isfinite(out).all())
        row.kept = sum(p.numel() for p in slim.parameters()) / row.params
        row.uniform = _uniform_kept(graph, analysis, ratio)
    except Exception as e:  # a harness: report, go on
        row.error = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
    row.seconds = time.perf_counter() - t0
    return row
