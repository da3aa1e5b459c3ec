"""Golden plans: the plan of every reference net x hardware x budget case is fixed in a JSON file.

A change that alters any plan (kept channels, N:M patterns, cycles, loss) fails here and must be
looked at. ``pytest --update-golden tests/hwprune/test_plan_golden.py`` rewrites the files; review the
diff of ``tests/hwprune/golden/plans`` before committing it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import hwprune
import hwprune.models as models

GOLDEN = Path(__file__).parent / "golden" / "plans"

# (net, input size, in channels, hardware, budget, options): seeded weights, l1 importance.
CASES = [
    ("resnet20", 32, 3, "dpu-b4096", 0.6, {}),
    ("resnet20", 32, 3, "dpu-b4096", 0.7, {"solver": "exact"}),
    ("resnet20", 32, 3, "dpu-b4096-sparse", 0.6, {}),
    ("resnet20", 32, 3, "dpu-b1024-sparse", 0.4, {}),
    ("resnet20", 32, 3, "systolic-32x32-ws", 0.5, {}),
    ("digits_cnn", 32, 1, "dpu-b1024", 0.5, {}),
    ("vgg11_bn", 32, 3, "dpu-b4096", 0.5, {"excludes": ("features.0",)}),
    ("mobilenet_v2", 64, 3, "dpu-b4096", 0.7, {}),
    ("resnet18", 64, 3, "dpu-b4096", 0.6, {}),
    ("resnet50", 64, 3, "dpu-b4096", 0.5, {}),
]


def _case_id(case) -> str:
    net, size, _, hw, budget, opts = case
    extra = "".join(f"-{k}" for k in sorted(opts))
    return f"{net}-{size}-{hw}-{budget}{extra}"


def _plan(case) -> hwprune.Plan:
    net, size, cin, hw, budget, opts = case
    torch.manual_seed(0)
    model = models.get(net, num_classes=10, in_channels=cin).eval()
    x = torch.randn((1, cin, size, size), generator=torch.Generator().manual_seed(0))
    return hwprune.plan(model, x, hw=hw, budget=budget, **opts)


def _normalise(obj):
    """JSON data with floats rounded to 9 significant digits (sums of importances differ in the last bits)."""
    if isinstance(obj, float):
        return float(f"{obj:.9g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _normalise(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_normalise(v) for v in obj]
    return obj


def _same(a, b) -> bool:
    """Equal JSON data, floats within 1e-7 relative: sums of importances differ in the last bits from one
    CPU (and BLAS build) to another, so even rounded to 9 digits a value can fall either side of a rounding
    boundary (seen: loss 9.68125651 here, 9.68125652 on another machine). Ints and strings must match."""
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            return False
        return a == b or math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _differences(want: dict, got: dict) -> list[str]:
    out = [
        f"{k}: {want.get(k)!r} -> {got.get(k)!r}"
        for k in sorted(set(want) | set(got))
        if k not in ("groups", "layers") and not _same(want.get(k), got.get(k))
    ]
    for part, key in (("groups", "key"), ("layers", "name")):
        w = {e[key]: e for e in want.get(part, [])}
        g = {e[key]: e for e in got.get(part, [])}
        out += [
            f"{part} {n}: {w.get(n)} -> {g.get(n)}"
            for n in sorted(set(w) | set(g))
            if not _same(w.get(n), g.get(n))
        ]
    return out


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_plan_matches_golden(case, request):
    path = GOLDEN / f"{_case_id(case)}.json"
    got = _normalise(json.loads(json.dumps(_plan(case).to_dict())))
    if request.config.getoption("--update-golden", default=False):
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert path.is_file(), f"no golden plan {path.name}; create it with pytest --update-golden {__file__}"
    want = json.loads(path.read_text())
    diffs = _differences(want, got)
    assert not diffs, f"plan differs from {path.name} ({len(diffs)} fields):\n" + "\n".join(diffs[:30])


def test_same_tolerates_last_bits_only():
    assert _same({"loss": 9.68125651, "n": [1, 2.0]}, {"loss": 9.68125652, "n": [1, 2.0]})
    assert not _same({"loss": 9.681}, {"loss": 9.682})
    assert not _same({"kept": 16}, {"kept": 17})
    assert not _same([1.0, 2.0], [1.0])
    assert not _same({"a": 1.0}, {"b": 1.0})


def test_every_golden_file_has_a_case():
    known = {f"{_case_id(c)}.json" for c in CASES}
    stray = sorted(p.name for p in GOLDEN.glob("*.json") if p.name not in known)
    assert not stray, f"golden plans without a case (delete them): {stray}"
