"""CLI fuzz: every subcommand, malformed values for each flag -> exit 2, one line on stderr, no file
written (and, for optimize, nothing trained: every check runs before training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwprune.cli import main

M = ["--model", "digits_cnn"]
# (subcommand args, malformed flag values); each row is one run
CASES: list[list[str]] = []
for flag, bads in {
    "--model": ["", "nope", "nope.module:make", "json:dumps"],
    "--input-shape": ["1,3,abc", "1,3,32", "0,1,32,32", ""],
    "--in-channels": ["0", "x"],
    "--num-classes": ["1", "x"],
    "--data": [
        "imagenet",
        "",
        "imagefolder:",
        "imagefolder:nowhere",
        "imagefolder:blocker",
        "no_such_mod_xyz:make",
        "json:dumps",
        "json:nope",
    ],
    "--data-dir": ["", "nowhere"],
    "--train-subset": ["0", "x", "5"],
    "--weights": ["", "missing.pt", "binary.json", "notaplan.json", "mismatch.pt", "noweights.pt"],
    "--device": ["", "gpu", "cuda:x", "cuda:99", "tpu:0"],
    "--hw": ["no-such-hw", "missing/file.cfg", ""],
    "--budget": ["abc", "0", "-1", "0.01", "5parsecs"],
    "--nm": ["maybe"],
    "--epochs": ["-1", "x"],
    "--finetune-epochs": ["-1"],
    "--batch-size": ["0"],
    "--lr": ["0", "nan", "x"],
    "--finetune-lr": ["-1"],
    "--importance": ["nope", "taylor"],
    "--solver": ["x"],
    "--seed": ["-1", "1.5"],
    "--input-size": ["0", "abc"],
    "--exclude": ["no.such.layer", ""],
    "--out": ["blocker/run"],
    "--cache-dir": ["blocker/cache"],
    "--bogus": ["1"],
}.items():
    for bad in bads:
        CASES.append(
            ["optimize", *(M if flag != "--model" else []), flag, bad, "--epochs", "1", "--quiet"]
            if flag != "--epochs"
            else ["optimize", *M, flag, bad, "--quiet"]
        )
CASES.append(["optimize", *M, "--data", "digits", "--num-classes", "5", "--epochs", "1", "--quiet"])
CASES.append(["optimize", *M, "--data", "digits", "--in-channels", "2", "--epochs", "1", "--quiet"])
CASES.append(["optimize", *M, "--data", "digits", "--input-shape", "1,1,28,32", "--epochs", "1", "--quiet"])
CASES.append(["optimize", *M, "--data", "fashion-mnist", "--data-dir", "nowhere", "--epochs", "1", "--quiet"])
CASES.append(
    ["optimize", *M, "--data", "fashion-mnist", "--data-dir", "good.json", "--epochs", "1", "--quiet"]
)
CASES.append(["optimize", *M, "--data", "fashion-mnist", "--data-dir", ".", "--epochs", "1", "--quiet"])
CASES.append(["optimize", "--model", "json:dumps", "--epochs", "1", "--quiet"])
CASES.append(["optimize", *M, "--hw", "dpu-b1024", "--nm", "on", "--epochs", "1", "--quiet"])

for flag, bads in {
    "--model": ["", "nope", "nope.module:make"],
    "--input-shape": ["1,3,abc", "1,3"],
    "--in-channels": ["-2"],
    "--num-classes": ["0"],
    "--hw": ["no-such-hw"],
    "--budget": ["abc", "0.01", "0"],
    "--nm": ["x"],
    "--importance": ["nope"],
    "--solver": ["x"],
    "--exclude": ["no.such.layer"],
    "--out": ["blocker/p"],
}.items():
    for bad in bads:
        CASES.append(["plan", *(M if flag != "--model" else []), flag, bad])
for flag, bads in {
    "--ratio": ["1.5", "0", "x", "-0.2"],
    "--importance": ["nope"],
    "--round-to": ["0", "x"],
    "--exclude": ["no.such.layer"],
    "--out": ["blocker/p"],
    "--input-shape": ["a,b,c,d"],
}.items():
    for bad in bads:
        CASES.append(["prune", *M, *(["--ratio", "0.3"] if flag != "--ratio" else []), flag, bad])
CASES.append(["prune", *M])  # --ratio missing
for flag, bads in {
    "--hw": ["no-such-hw"],
    "--mode": ["fast"],
    "--out": ["blocker/s"],
    "--input-shape": ["1,2,3,x"],
    "--model": ["nope"],
}.items():
    for bad in bads:
        CASES.append(["simulate", *(M if flag != "--model" else []), flag, bad])
for flag, bads in {"--hw": ["no-such-hw"], "--net": ["nope"], "--out": ["blocker/r"]}.items():
    for bad in bads:
        CASES.append(["reports", flag, bad, "--quiet"])
CASES += [
    ["report", "missing.json"],
    ["report", "binary.json"],
    ["report", "truncated.json"],
    ["report", "badkept.json"],
    ["report", "notaplan.json"],
    ["report", "good.json", "--out", "blocker/r"],
    [],
    ["nosuchcommand"],
]


@pytest.fixture(scope="module")
def good_plan(tmp_path_factory) -> dict:
    import torch

    import hwprune

    torch.manual_seed(0)
    model = hwprune.models.get("digits_cnn", num_classes=10, in_channels=1).eval()
    return hwprune.plan(model, torch.randn(1, 1, 32, 32), hw="dpu-b1024", budget=0.7).to_dict()


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c) or "<none>" for c in CASES])
def test_malformed_value_exits_2_with_one_line_and_writes_nothing(
    argv, tmp_path, monkeypatch, capsys, good_plan
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blocker").write_text("a file where a folder is expected")
    (tmp_path / "binary.json").write_bytes(bytes(range(256)))
    text = json.dumps(good_plan)
    (tmp_path / "good.json").write_text(text)
    (tmp_path / "truncated.json").write_text(text[: len(text) // 3])
    bad = json.loads(text)
    bad["groups"][0]["kept"] = "abc"
    (tmp_path / "badkept.json").write_text(json.dumps(bad))
    (tmp_path / "notaplan.json").write_text('{"hello": 1}')
    import torch

    from hwprune import models

    torch.save(models.get("digits_cnn", num_classes=7, in_channels=1).state_dict(), tmp_path / "mismatch.pt")
    torch.save({"epoch": 3}, tmp_path / "noweights.pt")
    before = _tree(tmp_path)

    import hwprune.train.loop as loop

    def no_training(*a, **k):
        raise AssertionError("training started before the arguments were checked")

    monkeypatch.setattr(loop, "train", no_training)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("hwprune") and "error:" in err[0]
    assert "Traceback" not in err[0] and "forced=True" not in err[0]
    assert _tree(tmp_path) == before
