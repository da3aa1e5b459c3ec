"""OFA supernet training: sandwich rule, distillation, checkpoints, resume, data-parallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hwprune
from hwprune.errors import TrainConfigError

REPO = Path(__file__).resolve().parents[2]


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 5, padding=2),  # an elastic kernel (5 or 3): its transform trains too
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 4),
    )


def _loader():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 3, 8, 8, generator=g), torch.randint(0, 4, (32,), generator=g)
    return DataLoader(
        TensorDataset(x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1)
    )


def _setup():
    model = _net().eval()
    ofa = hwprune.OFAPruner(model, torch.randn(1, 3, 8, 8), hw="dpu-b512", backend="serial", progress=False)
    return model, ofa, ofa.ofa_model([0.25, 0.5, 1.0], channel_divisible=4)


def test_sandwich_step_runs_max_min_and_random_subnets_with_kd_and_clipping():
    model, ofa, sup = _setup()
    widths = []
    handle = sup.model[6].register_forward_pre_hook(
        lambda m, a: widths.append(int((m.parametrizations.weight[0].mask.reshape(32, 32)[0] != 0).sum()))
    )
    before = {k: v.clone() for k, v in sup.state_dict().items()}
    hist = ofa.train(sup, _loader(), epochs=1, lr=0.05, n_random=2, clip_grad=1.0, seed=3)
    handle.remove()
    assert hist["steps"] == 4 and len(hist["loss"]) == 1
    group = sup.space.groups[0]  # conv 3's channels (conv 0 is excluded by default), consumed by conv 6
    assert group.key == "3"
    assert len(widths) == 16  # 4 passes per step
    # max, the random ones, then min (last: the synchronised pass under DDP uses every parameter)
    assert widths[0::4] == [group.size] * 4 and widths[3::4] == [group.choices[0]] * 4
    assert any(w != widths[0] for w in widths[1::4] + widths[2::4]) or len(group.choices) == 1
    changed = [k for k, v in sup.state_dict().items() if not torch.equal(v, before[k])]
    assert any("original" in k for k in changed)
    assert sup.setting() == ofa.sample_subnet(sup, "max")[1]  # left at the largest subnet
    for k, v in model.state_dict().items():  # the teacher (user's model) is untouched
        assert torch.equal(v, _net().state_dict()[k])


@pytest.mark.resume
def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    ck = tmp_path / "sup.ckpt"
    _, ofa, sup = _setup()
    ofa.train(sup, _loader(), epochs=2, seed=1)
    reference = {k: v.clone() for k, v in sup.state_dict().items()}

    _, ofa, sup = _setup()

    def stop(epoch, stats):
        raise KeyboardInterrupt  # a kill right after the first epoch's checkpoint

    with pytest.raises(KeyboardInterrupt):
        ofa.train(sup, _loader(), epochs=2, seed=1, checkpoint=ck, callback=stop)
    assert ck.is_file()
    _, ofa, sup = _setup()  # a new process would start from scratch
    hist = ofa.train(sup, _loader(), epochs=2, seed=1, checkpoint=ck)
    assert hist["epochs"] == 2 and not ck.exists()
    for k, v in sup.state_dict().items():
        assert torch.equal(v, reference[k]), k


def test_checkpoint_of_another_supernet_is_refused(tmp_path):
    ck = tmp_path / "sup.ckpt"
    _, ofa, sup = _setup()
    with pytest.raises(KeyboardInterrupt):
        ofa.train(
            sup,
            _loader(),
            epochs=2,
            checkpoint=ck,
            callback=lambda e, s: (_ for _ in ()).throw(KeyboardInterrupt),
        )
    other = ofa.ofa_model([0.5, 1.0], channel_divisible=4)  # same weights' shapes, another space
    with pytest.raises(TrainConfigError, match="another model or setup"):
        ofa.train(other, _loader(), epochs=2, checkpoint=ck)
    with pytest.raises(TrainConfigError, match="n_random"):
        ofa.train(sup, _loader(), epochs=1, n_random=-1)


_WORKER = textwrap.dedent("""
    import json, sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    import hwprune
    from hwprune.train.device import close_distributed, init_distributed, resolve_device, world
    from tests.hwprune.test_ofa_train import _loader, _net

    torch.set_num_threads(1)
    out = sys.argv[1]
    assert init_distributed(resolve_device("cpu"))
    model = _net().eval()
    ofa = hwprune.OFAPruner(model, torch.randn(1, 3, 8, 8), hw="dpu-b512", backend="serial", progress=False)
    sup = ofa.ofa_model([0.25, 0.5, 1.0], channel_divisible=4)
    hist = ofa.train(sup, _loader(), epochs=2, seed=4, checkpoint=f"{out}/ck.pt")
    rank = world()[0]
    torch.save(sup.state_dict(), f"{out}/rank{rank}.pt")
    json.dump({"steps": hist["steps"], "loss": hist["loss"]}, open(f"{out}/rank{rank}.json", "w"))
    close_distributed()  # every torchrun script ends its process group (see close_distributed)
""")


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_one_supernet(tmp_path):
    (tmp_path / "worker.py").write_text(_WORKER)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(tmp_path / "worker.py"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    h0, h1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert h0["steps"] == h1["steps"] == 4  # 32 samples / 2 processes / batch 8, two epochs
    assert h0["loss"] == h1["loss"]
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    _, _, fresh = _setup()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    assert any(not torch.equal(w0[k], v) for k, v in fresh.state_dict().items())
    transforms = [k for k in w0 if ".transforms." in k]  # the kernel transform trained, in step on both
    assert transforms and all(not torch.equal(w0[k], fresh.state_dict()[k]) for k in transforms)
