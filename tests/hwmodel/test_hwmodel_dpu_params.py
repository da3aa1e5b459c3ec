"""DpuParams: the PG338 architectures, derived bank sizes and validation."""

from __future__ import annotations

import pytest

from hwmodel.dpu.params import DPU_ARCHS, DPU_NAMES, DpuParams, dpu_params
from hwmodel.errors import ConfigError

# PG338 "Architecture of the DPUCZDX8G": PP, ICP, OCP and peak ops/cycle
PG338 = {
    "dpu-b512": (4, 8, 8, 512),
    "dpu-b800": (4, 10, 10, 800),
    "dpu-b1024": (8, 8, 8, 1024),
    "dpu-b1152": (4, 12, 12, 1152),
    "dpu-b1600": (8, 10, 10, 1600),
    "dpu-b2304": (8, 12, 12, 2304),
    "dpu-b3136": (8, 14, 14, 3136),
    "dpu-b4096": (8, 16, 16, 4096),
}
# PG338 "RAM Usage", BRAM36K blocks per core, low RAM usage
PG338_LOW_RAM_BRAM36K = {
    "dpu-b512": 72,
    "dpu-b800": 90,
    "dpu-b1024": 104,
    "dpu-b1152": 121,
    "dpu-b1600": 126,
    "dpu-b2304": 165,
    "dpu-b3136": 208,
    "dpu-b4096": 255,
}


def test_names_cover_every_pg338_architecture():
    assert set(DPU_NAMES) == set(PG338) == set(DPU_ARCHS)


@pytest.mark.parametrize("name", sorted(PG338))
def test_parallelism_and_peak_ops_match_pg338(name):
    p = dpu_params(name)
    pp, icp, ocp, ops = PG338[name]
    assert (p.pp, p.icp, p.ocp) == (pp, icp, ocp)
    assert p.peak_ops_per_cycle == ops
    assert p.alu_pp == pp // 2 and p.alu_cp == icp  # PG338 recommends ALU parallelism PP/2
    assert p.clock_mhz == 300.0


@pytest.mark.parametrize("name", sorted(PG338))
def test_bank_sizes_are_close_to_pg338_bram_budget(name):
    p = dpu_params(name)
    bram36k = (p.weight_bank_kb + p.ifmap_bank_kb + p.ofmap_bank_kb) / 4  # 4 KiB of data per BRAM36K
    assert abs(bram36k - PG338_LOW_RAM_BRAM36K[name]) / PG338_LOW_RAM_BRAM36K[name] < 0.12


def test_name_spellings_and_overrides():
    assert dpu_params("B4096") == dpu_params("dpu-b4096") == dpu_params("DPU-B4096-sparse")
    assert dpu_params("dpu-b1024", clock_mhz=200).clock_mhz == 200.0
    assert dpu_params("dpu-b4096").name == "B4096"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="dpu-b4096"):
        dpu_params("dpu-b9999")


@pytest.mark.parametrize(
    "bad",
    [
        {"pp": 0},
        {"icp": -1},
        {"dram_bytes_per_cycle": 0},
        {"clock_mhz": 0},
        {"alu_pp": 9},
        {"pipeline_fill": -1},
        {"ocp": 2.5},
    ],
)
def test_validation_names_the_field(bad):
    fields = {"pp": 8, "icp": 16, "ocp": 16, **bad}
    with pytest.raises(ConfigError, match=next(iter(bad))):
        DpuParams(**fields)


def test_round_trip_through_dict():
    p = dpu_params("dpu-b2304", dram_bytes_per_cycle=16)
    assert DpuParams.from_dict(p.to_dict()) == p
    with pytest.raises(ConfigError, match="unknown DPU parameter"):
        DpuParams.from_dict({**p.to_dict(), "banana": 1})


def test_weight_chunk_is_half_the_weight_bank():
    p = dpu_params("dpu-b4096")
    assert p.weight_bank_kb == 512 and p.weight_chunk_bytes == 256 * 1024
