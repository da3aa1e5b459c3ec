"""--weights loading, --device resolution and data-parallel training (2 CPU processes under torchrun, gloo)."""

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
from torch.utils.data import DataLoader, Sampler, TensorDataset

from hwprune.errors import TrainConfigError, WeightsError
from hwprune.train.device import is_distributed, is_main_process, resolve_device, world
from hwprune.train.loop import train
from hwprune.train.weights import load_weights, read_state_dict

REPO = Path(__file__).resolve().parents[2]


def _net(seed=0, classes=3):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, classes)
    )


# -------------------------------------------------------------------------------------------- weights


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "ddp"])
def test_load_weights_forms(tmp_path, wrap):
    src = _net(seed=1)
    state = src.state_dict()
    obj = {
        "plain": state,
        "state_dict": {"state_dict": state, "epoch": 3},
        "model": {"model": state, "optimizer": {"lr": 0.1}},
        "ddp": {f"module.{k}": v for k, v in state.items()},
    }[wrap]
    torch.save(obj, tmp_path / "w.pt")
    dst = _net(seed=2)
    load_weights(dst, tmp_path / "w.pt")
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_weights_mismatch_names_keys_and_loads_nothing(tmp_path):
    state = _net(classes=5).state_dict()
    state.pop("1.bias")
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "w.pt")
    dst = _net(seed=3)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(WeightsError) as e:
        load_weights(dst, tmp_path / "w.pt")
    msg = str(e.value)
    assert "w.pt does not fit Sequential" in msg
    assert "missing keys: 1.bias" in msg and "unexpected keys: extra.weight" in msg
    assert "4.weight (5, 16) vs model (3, 16)" in msg and "4.bias (5,) vs model (3,)" in msg
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())


def test_weights_unreadable_files(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        read_state_dict(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"garbage")
    with pytest.raises(WeightsError, match=r"cannot read weights file .*junk.pt"):
        read_state_dict(tmp_path / "junk.pt")
    torch.save({"epoch": 3, "optim": {"lr": torch.tensor(1.0)}}, tmp_path / "ckpt.pt")
    with pytest.raises(
        WeightsError, match=r"ckpt.pt is a dict without a state_dict: its keys are epoch, optim"
    ):
        read_state_dict(tmp_path / "ckpt.pt")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(WeightsError, match="holds a list, not a state_dict"):
        read_state_dict(tmp_path / "list.pt")


# -------------------------------------------------------------------------------------------- device


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("gpu", "cuda:x", "cuda:", "", 3):
        with pytest.raises(TrainConfigError, match="device must be"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(TrainConfigError, match="CUDA is not available here"):
            resolve_device("cuda:0")
    else:
        with pytest.raises(TrainConfigError, match="CUDA device"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(TrainConfigError, match="WORLD_SIZE='two'"):
        world()


def test_not_distributed_by_default():
    assert not is_distributed() and is_main_process()


# -------------------------------------------------------------------------------------------- DDP

_WORKER = textwrap.dedent("""
    import json, sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from hwprune.train.device import close_distributed, init_distributed, is_distributed, resolve_device, world
    from hwprune.train.loop import train

    torch.set_num_threads(1)
    out = sys.argv[1]
    dev = resolve_device("cpu")
    assert init_distributed(dev) and is_distributed()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    hist = train(net, loader, epochs=2, lr=0.1, seed=5, progress=False)
    rank = world()[0]
    torch.save(net.state_dict(), f"{out}/rank{rank}.pt")
    torch.manual_seed(0)
    bn = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    train(bn, loader, epochs=1, lr=0.1, seed=5, progress=False)
    torch.save(bn.state_dict(), f"{out}/bn{rank}.pt")
    json.dump({"steps": hist["steps"], "loss": hist["loss"]}, open(f"{out}/rank{rank}.json", "w"))
    close_distributed()  # every torchrun script ends its process group (see close_distributed)
    assert not is_distributed()
""")


class _EpochPerms(Sampler):
    """DistributedSampler's permutations (seed + epoch), unsharded: one process seeing both shards."""

    def __init__(self, n, seed):
        self.n, self.seed, self.epoch = n, seed, 0

    def __iter__(self):
        perm = torch.randperm(
            self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch)
        ).tolist()
        self.epoch += 1
        return iter(perm)

    def __len__(self):
        return self.n


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_one_process_on_the_union_batch(tmp_path):
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
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    h0, h1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # each process took 64 / 2 / 8 = 4 steps per epoch; both hold the same weights and statistics
    assert h0["steps"] == h1["steps"] == 8
    assert h0["loss"] == h1["loss"]
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # BN running statistics are gathered per process; both end with rank 0's
    b0, b1 = torch.load(tmp_path / "bn0.pt"), torch.load(tmp_path / "bn1.pt")
    assert int(b0["1.num_batches_tracked"]) == 4
    for k in b0:
        assert torch.equal(b0[k], b1[k]), k
    # one process on the same sample order with the union batch (2 x 8) computes the same updates
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, sampler=_EpochPerms(64, seed=5))
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    before = {k: v.clone() for k, v in ref.state_dict().items()}
    hist = train(ref, loader, epochs=2, lr=0.1, seed=5, progress=False)
    assert hist["steps"] == 8
    for k, v in ref.state_dict().items():
        assert not torch.equal(v, before[k])
        torch.testing.assert_close(w0[k], v, rtol=1e-4, atol=1e-5)
    assert h0["loss"] == pytest.approx(hist["loss"], rel=1e-4)
