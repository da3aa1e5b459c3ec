"""The OFA run's held-out split: candidates are scored on training images the supernet never trains on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from hwprune.errors import TrainConfigError
from hwprune.ofa.run import holdout_split


def _loader(n=100, classes=4, shuffle=True, drop_last=False):
    x = torch.arange(n, dtype=torch.float32)[:, None]  # image i holds the value i
    y = torch.arange(n) % classes
    return DataLoader(
        TensorDataset(x, y),
        batch_size=8,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(0),
        drop_last=drop_last,
    )


def test_split_is_disjoint_complete_stratified_and_seeded():
    loader = _loader(drop_last=True)
    train, val = holdout_split(loader, 0.2, seed=3)
    tr, va = set(train.dataset.indices), set(val.dataset.indices)  # image i is index i
    assert len(va) == 20 and len(tr) == 80 and not tr & va and tr | va == set(range(100))
    assert np.bincount(np.array(sorted(va)) % 4).tolist() == [5, 5, 5, 5]  # stratified by label
    assert train.batch_size == val.batch_size == 8 and train.drop_last and not val.drop_last
    assert isinstance(train.sampler, torch.utils.data.RandomSampler)
    assert isinstance(val.sampler, torch.utils.data.SequentialSampler)
    _, val2 = holdout_split(loader, 0.2, seed=3)
    assert list(val2.dataset.indices) == list(val.dataset.indices)  # every process draws the same split
    _, other = holdout_split(loader, 0.2, seed=4)
    assert list(other.dataset.indices) != list(val.dataset.indices)
    # the training loader still yields only its own images
    seen = {int(v) for x, _ in train for v in x[:, 0]}
    assert seen <= tr


class _Unlabelled(Dataset):
    def __len__(self):
        return 30

    def __getitem__(self, i):
        return torch.tensor([float(i)]), torch.tensor(0.5)  # float targets: no stratification


def test_split_without_labels_is_random_and_disjoint():
    train, val = holdout_split(DataLoader(_Unlabelled(), batch_size=4), 0.1)
    assert len(val.dataset) == 3 and len(train.dataset) == 27
    assert not set(train.dataset.indices) & set(val.dataset.indices)
    assert isinstance(train.sampler, torch.utils.data.SequentialSampler)  # did not shuffle before: still not


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, True, "0.1"])
def test_bad_fraction(fraction):
    with pytest.raises(TrainConfigError, match="val_fraction"):
        holdout_split(_loader(), fraction)


def test_bad_loaders():
    with pytest.raises(TrainConfigError, match="val_loader"):
        holdout_split([(torch.zeros(2, 1), torch.zeros(2))], 0.5)
    with pytest.raises(TrainConfigError, match="no held-out or no training image"):
        holdout_split(_loader(n=4), 0.01)


def test_cli_scores_candidates_on_held_out_training_images_only(tmp_path, monkeypatch):
    import hwprune.ofa.run as run
    from hwprune.cli import main
    from tests.hwprune.test_ofa_cli import ARGS, tiny_data

    train_x = tiny_data()[0].dataset.tensors[0]
    test_x = tiny_data()[1].dataset.tensors[0]
    scored: list[torch.Tensor] = []
    plain = run._eval_acc

    def spy(model, loader, batches):
        for i, (x, _) in enumerate(loader):
            if batches is None or i < batches:
                scored.append(x)
        return plain(model, loader, batches)

    monkeypatch.setattr(run, "_eval_acc", spy)
    out = tmp_path / "run"
    args = [*ARGS, "--latency", "0.5:1.0:0.5", "--val-fraction", "0.25", "--out", str(out)]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    images = torch.cat(scored)
    distinct = torch.unique(images.flatten(1), dim=0)
    assert len(distinct) == 8  # round(0.25 x 32) held-out images, each candidate scored on all of them
    for img in distinct:
        assert (train_x.flatten(1) == img).all(1).any()  # a training image ...
        assert not (test_x.flatten(1) == img).all(1).any()  # ... never a test image
    assert "held-out" in (out / "report.md").read_text()
