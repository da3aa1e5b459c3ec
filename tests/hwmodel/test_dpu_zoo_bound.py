"""The default DPU model never takes longer than AMD's measured time per frame allows.

For each of the 12 model-zoo nets of ``reports/dpu_vs_model_zoo.md`` (full ImageNet shapes, lowered by
hwprune): the simulated DPU time of one frame on the ``zcu104`` preset (one core) is at most the ZCU104
end-to-end latency, its two cores' time per frame and the KV260's one core's time per frame (the same
B4096 core at the same clock). The fitted conv stretch is the one constant that can break this.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import hwmodel
from hwmodel.dpu.board import latency_ms

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_dpu_vs_model_zoo.py"
_spec = importlib.util.spec_from_file_location("bench_dpu_vs_model_zoo", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.mark.parametrize("name", list(bench.ZOO))
def test_simulated_frame_within_amds_measured_bound(name):
    layers = bench.workloads(name)
    z104, kv = hwmodel.preset("zcu104"), hwmodel.preset("kv260")
    ms = latency_ms(layers, z104)
    assert latency_ms(layers, kv) == pytest.approx(ms)  # the same core at the same clock
    _, (st, mt), _, _ = bench.ZOO[name]
    bound = min(1e3 / st, z104.dpu.cores * 1e3 / mt, 1e3 / bench.KV260[name][1])
    assert ms <= bound, f"{name}: simulated {ms:.3f} ms > {bound:.3f} ms, the most AMD's figures allow"
    # and it is no free lunch: at least the ideal MAC time at the conv engine's peak
    ideal = sum(x.macs for x in layers) / z104.dpu.peak_macs_per_cycle / (z104.clock_mhz * 1e3)
    assert ms > ideal
