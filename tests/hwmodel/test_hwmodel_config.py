"""AcceleratorConfig validation, presets and config-file loaders (.cfg, .toml, .json)."""

from __future__ import annotations

import json

import pytest

import hwmodel
from hwmodel.config.files import load_config
from hwmodel.config.loaders import parse_scalesim_cfg, to_scalesim_cfg
from hwmodel.errors import CapacityError, ConfigError


def test_defaults_validate_and_normalise_case():
    cfg = hwmodel.AcceleratorConfig(dataflow="WS", bandwidth_mode="user")
    assert cfg.dataflow == "ws" and cfg.bandwidth_mode == "USER"
    assert cfg.peak_macs_per_cycle == 32 * 32
    assert cfg.sram_words("ifmap") == 64 * 1024


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("dataflow", "rs", "dataflow"),
        ("rows", 0, "rows"),
        ("cols", -3, "cols"),
        ("bandwidth_mode", "FAST", "bandwidth_mode"),
        ("dram_bw", 0, "dram_bw"),
        ("engine", "gpu", "engine"),
        ("ifmap_sram_kb", 1.5, "ifmap_sram_kb"),
    ],
)
def test_invalid_fields_name_the_field(field, value, needle):
    with pytest.raises(ConfigError, match=needle):
        hwmodel.AcceleratorConfig(**{field: value})


def test_sram_too_small_for_one_fold_is_a_capacity_error():
    with pytest.raises(CapacityError, match="ofmap_sram_kb"):
        hwmodel.AcceleratorConfig(rows=256, cols=256, dataflow="os", ofmap_sram_kb=64)
    # the stationary operand decides which SRAM must hold the tile
    hwmodel.AcceleratorConfig(rows=256, cols=256, dataflow="ws", ofmap_sram_kb=1, filter_sram_kb=128)


def test_replace_revalidates_and_rejects_unknown_fields():
    cfg = hwmodel.preset("systolic-32x32-os")
    assert cfg.replace(rows=16).rows == 16
    with pytest.raises(ConfigError):
        cfg.replace(dataflow="xx")
    with pytest.raises(ConfigError, match="no field"):
        cfg.replace(colour=1)


@pytest.mark.parametrize("name", ["systolic-32x32-ws", "google", "eyeriss", "dpu-b4096", "dpu-b512-sparse"])
def test_to_dict_round_trip(name):
    cfg = hwmodel.preset(name)
    back = hwmodel.AcceleratorConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg


def test_presets_cover_scalesim_examples_and_dpus():
    names = hwmodel.list_presets()
    for n in (
        "scale",
        "google",
        "eyeriss",
        "tpuv5e-downscale",
        "systolic-32x32-ws",
        "systolic-32x32-os",
        "dpu-b512",
        "dpu-b4096",
        "dpu-b4096-sparse",
    ):
        assert n in names
    google = hwmodel.preset("google")
    assert (google.rows, google.cols, google.dataflow, google.ifmap_sram_kb) == (256, 256, "ws", 6144)
    eyeriss = hwmodel.preset("eyeriss")
    assert (eyeriss.rows, eyeriss.cols) == (12, 14)
    dpu = hwmodel.preset("dpu-b4096")
    assert dpu.engine == "dpu" and dpu.peak_macs_per_cycle == 8 * 16 * 16 and dpu.sparse is None
    assert hwmodel.preset("dpu-b4096-sparse").sparse is not None


def test_unknown_preset_lists_names():
    with pytest.raises(ConfigError, match="dpu-b4096") as e:
        hwmodel.preset("dpu-b4069")
    assert "systolic-32x32-os" in str(e.value)


def test_scalesim_cfg_round_trip(tmp_path, scale_cfg_text):
    p = tmp_path / "tiny.cfg"
    p.write_text(scale_cfg_text)
    cfg = load_config(p)
    assert (cfg.name, cfg.rows, cfg.cols, cfg.dataflow, cfg.ofmap_sram_kb, cfg.nm_support) == (
        "tiny",
        8,
        8,
        "os",
        32,
        True,
    )
    q = tmp_path / "again.cfg"
    q.write_text(to_scalesim_cfg(cfg.replace(bandwidth_mode="USER", filter_dram_bw=4)))
    again = parse_scalesim_cfg(q)
    assert again == cfg.replace(bandwidth_mode="USER", filter_dram_bw=4)


def test_cfg_errors_name_file_line_and_field(tmp_path, scale_cfg_text):
    p = tmp_path / "bad.cfg"
    p.write_text(scale_cfg_text.replace("Dataflow : os", "Dataflow : diagonal"))
    with pytest.raises(ConfigError, match=r"bad\.cfg:13: field 'Dataflow'.*diagonal"):
        load_config(p)
    p.write_text(scale_cfg_text.replace("ArrayHeight: 8", "ArrayHeight: eight"))
    with pytest.raises(ConfigError, match=r"bad\.cfg:5: field 'ArrayHeight'"):
        load_config(p)
    p.write_text(scale_cfg_text.replace("ArrayHeight: 8", "ArrayHeight: 0"))
    with pytest.raises(ConfigError, match=r"bad\.cfg:5: field 'ArrayHeight'.*>= 1"):
        load_config(p)
    p.write_text(scale_cfg_text.replace("ArrayWidth: 8\n", ""))
    with pytest.raises(ConfigError, match="ArrayWidth"):
        load_config(p)
    p.write_text(
        scale_cfg_text.replace("ArrayHeight: 8\nArrayWidth: 8", "ArrayHeight: 128\nArrayWidth: 128").replace(
            "OfmapSramSzkB: 32", "OfmapSramSzkB: 16"
        )
    )
    with pytest.raises(CapacityError, match=r"bad\.cfg:9: .*ofmap_sram_kb"):
        load_config(p)


def test_toml_and_json_with_preset_base(tmp_path):
    t = tmp_path / "hw.toml"
    t.write_text('preset = "systolic-32x32-ws"\nrows = 16\nbandwidth_mode = "USER"\n')
    cfg = load_config(t)
    assert (cfg.rows, cfg.cols, cfg.dataflow, cfg.bandwidth_mode) == (16, 32, "ws", "USER")
    j = tmp_path / "hw.json"
    j.write_text(json.dumps(hwmodel.preset("eyeriss").to_dict()))
    assert load_config(j) == hwmodel.preset("eyeriss")


def test_toml_json_errors_name_the_field(tmp_path):
    t = tmp_path / "bad.toml"
    t.write_text('name = "x"\n\ndataflow = "zz"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml:3: .*dataflow"):
        load_config(t)
    j = tmp_path / "bad.json"
    j.write_text('{"rows": 8,\n "colour": 3}')
    with pytest.raises(ConfigError, match="colour"):
        load_config(j)
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config(tmp_path / "x.yaml")
