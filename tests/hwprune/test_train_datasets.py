"""IDX reader, Fashion-MNIST, image-folder and factory loaders on tiny files the tests write."""

from __future__ import annotations

import gzip
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from hwprune.errors import DataError, TrainConfigError
from hwprune.train.datasets import (
    FASHION_MNIST_FILES,
    fashion_mnist_dataset,
    image_folder_dataset,
    resolve_data,
    stratified_subset,
)
from hwprune.train.idx import read_idx, write_idx

# ------------------------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    p = write_idx(tmp_path / f"a.idx{suffix}", a)
    b = read_idx(p)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    assert not b.flags.writeable


def test_idx_header_bytes_big_endian(tmp_path):
    p = write_idx(tmp_path / "a.idx", np.array([1, 258], dtype=np.int32))
    raw = p.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0C, 1])
    assert raw[4:8] == (2).to_bytes(4, "big")
    assert raw[8:] == (1).to_bytes(4, "big") + (258).to_bytes(4, "big")


def test_idx_gzip_detected_by_content(tmp_path):
    raw = tmp_path / "a.idx"
    write_idx(raw, np.ones((2, 2), np.uint8))
    disguised = tmp_path / "plain-name"
    disguised.write_bytes(gzip.compress(raw.read_bytes()))
    np.testing.assert_array_equal(read_idx(disguised), np.ones((2, 2), np.uint8))


def test_idx_errors_name_the_file(tmp_path):
    bad_magic = tmp_path / "magic.idx"
    bad_magic.write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(DataError, match=r"magic.idx is not an IDX file"):
        read_idx(bad_magic)
    bad_code = tmp_path / "code.idx"
    bad_code.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")
    with pytest.raises(DataError, match=r"code.idx is not an IDX file"):
        read_idx(bad_code)
    short = tmp_path / "short.idx"
    short.write_bytes(write_idx(tmp_path / "ok.idx", np.zeros((3, 4), np.uint8)).read_bytes()[:-1])
    with pytest.raises(DataError, match=r"short.idx has 23 bytes .* needs 24"):
        read_idx(short)
    with pytest.raises(DataError, match=r"ok.idx has 2 dimensions, expected 3"):
        read_idx(tmp_path / "ok.idx", ndim=3)
    with pytest.raises(DataError, match=r"missing.idx does not exist"):
        read_idx(tmp_path / "missing.idx")
    broken_gz = tmp_path / "broken.gz"
    broken_gz.write_bytes(gzip.compress(b"\x00\x00\x08\x01" * 50)[:20])
    with pytest.raises(DataError, match=r"broken.gz is not a valid gzip file"):
        read_idx(broken_gz)


# ------------------------------------------------------------------------------------------ Fashion-MNIST


def _fake_fashion(root, n_train=40, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        img_name, lbl_name = FASHION_MNIST_FILES[split]
        write_idx(root / img_name, images)
        write_idx(root / lbl_name, labels)
    return root


def test_fashion_mnist_shapes_padding_and_normalisation(tmp_path):
    root = _fake_fashion(tmp_path / "fm")
    train = fashion_mnist_dataset("train", data_dir=root)
    test = fashion_mnist_dataset("test", data_dir=root, channels=3)
    x, y = train.tensors
    assert x.shape == (40, 1, 32, 32) and y.dtype == torch.int64
    assert test.tensors[0].shape == (20, 3, 32, 32)
    raw = read_idx(root / FASHION_MNIST_FILES["train"][0]) / 255.0
    mean, std = raw.mean(), raw.std()
    # the 2-pixel border is padding (pixel 0), the inside is the standardised image
    assert torch.allclose(x[:, 0, 0, :], torch.full((40, 32), -mean / std, dtype=torch.float32), atol=1e-5)
    np.testing.assert_allclose(x[:, 0, 2:30, 2:30].numpy(), (raw - mean) / std, atol=1e-5)
    # the test split is normalised with the training statistics
    raw_test = read_idx(root / FASHION_MNIST_FILES["test"][0]) / 255.0
    np.testing.assert_allclose(test.tensors[0][:, 1, 2:30, 2:30].numpy(), (raw_test - mean) / std, atol=1e-5)


def test_fashion_mnist_unpacked_copy_is_found(tmp_path):
    root = _fake_fashion(tmp_path / "fm")
    for name in FASHION_MNIST_FILES["train"]:
        (root / name).rename(root / name.removesuffix(".gz"))
    assert len(fashion_mnist_dataset("train", data_dir=root)) == 40


def test_fashion_mnist_subset_is_stratified_and_seeded(tmp_path):
    root = _fake_fashion(tmp_path / "fm", n_train=100)
    a = fashion_mnist_dataset("train", data_dir=root, subset=30, seed=1)
    b = fashion_mnist_dataset("train", data_dir=root, subset=30, seed=1)
    c = fashion_mnist_dataset("train", data_dir=root, subset=30, seed=2)
    assert torch.bincount(a.tensors[1]).tolist() == [3] * 10
    assert torch.equal(a.tensors[0], b.tensors[0]) and not torch.equal(a.tensors[0], c.tensors[0])
    with pytest.raises(TrainConfigError, match="test split is always complete"):
        fashion_mnist_dataset("test", data_dir=root, subset=5)


def test_stratified_subset_keeps_shares():
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    idx = stratified_subset(labels, 10, seed=0)
    assert len(idx) == 10 and len(set(idx.tolist())) == 10
    assert np.bincount(labels[idx]).tolist() == [7, 2, 1]
    with pytest.raises(TrainConfigError):
        stratified_subset(labels, 0)


def test_fashion_mnist_missing_files_say_how_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install -y dataset-fashion-mnist"):
        fashion_mnist_dataset("train", data_dir=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is missing; install"):
        fashion_mnist_dataset("train", data_dir=tmp_path / "empty")


def test_fashion_mnist_inconsistent_files(tmp_path):
    root = _fake_fashion(tmp_path / "fm")
    write_idx(root / FASHION_MNIST_FILES["train"][1], np.zeros(39, np.uint8))
    with pytest.raises(DataError, match="holds 40 images but .* holds 39 labels"):
        fashion_mnist_dataset("train", data_dir=root)
    root2 = _fake_fashion(tmp_path / "fm2")
    write_idx(root2 / FASHION_MNIST_FILES["train"][0], np.zeros((40, 27, 28), np.uint8))
    with pytest.raises(DataError, match="27x28, Fashion-MNIST's are 28x28"):
        fashion_mnist_dataset("train", data_dir=root2)


def test_resolve_fashion_mnist(tmp_path):
    root = _fake_fashion(tmp_path / "fm")
    b = resolve_data("fashion-mnist", data_dir=root, batch_size=8, subset=20)
    assert b.input_shape == (1, 32, 32) and b.num_classes == 10
    assert len(b.train_loader.dataset) == 20 and len(b.val_loader.dataset) == 20


# ------------------------------------------------------------------------------------------ image folder


def _png(path, size=(6, 5), colour=(10, 200, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(path)


def _folder(root, classes=("cat", "dog"), per_class=3, mode="RGB"):
    for split in ("train", "val"):
        for k, c in enumerate(classes):
            for i in range(per_class):
                _png(root / split / c / f"{i}.png", colour=(40 * k + i, 100, 50 * i), mode=mode)
    return root


def test_image_folder_reads_classes_and_shapes(tmp_path):
    root = _folder(tmp_path / "imgs")
    train, val, classes = image_folder_dataset(root)
    assert classes == ["cat", "dog"]
    assert train.tensors[0].shape == (6, 3, 5, 6) and val.tensors[0].shape == (6, 3, 5, 6)
    assert train.tensors[1].tolist() == [0, 0, 0, 1, 1, 1]
    # standardised per channel with the training statistics
    assert torch.allclose(train.tensors[0].mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    b = resolve_data(f"imagefolder:{root}", size=8)
    assert b.input_shape == (3, 8, 8) and b.num_classes == 2


def test_image_folder_grey_images_give_one_channel(tmp_path):
    root = _folder(tmp_path / "imgs", mode="L")
    assert resolve_data(f"imagefolder:{root}").input_shape == (1, 5, 6)
    assert resolve_data(f"imagefolder:{root}", channels=3).input_shape == (3, 5, 6)


def test_image_folder_errors_name_the_path(tmp_path):
    root = tmp_path / "imgs"
    _png(root / "train" / "a" / "0.png")
    with pytest.raises(DataError, match=r"has no val/ subfolder"):
        image_folder_dataset(root)
    _png(root / "val" / "b" / "0.png")
    with pytest.raises(
        DataError, match=r"different classes \(only in train: \['a'\]; only in val: \['b'\]\)"
    ):
        image_folder_dataset(root)
    _png(root / "val" / "a" / "0.png")
    _png(root / "train" / "b" / "0.png")
    (root / "train" / "c").mkdir()
    with pytest.raises(DataError, match=r"class folder .*train/c is empty"):
        image_folder_dataset(root)
    (root / "train" / "c").rmdir()
    (root / "train" / "b" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot read image .*train/b/broken.png"):
        image_folder_dataset(root)
    (root / "train" / "b" / "broken.png").unlink()
    _png(root / "train" / "b" / "1.png", size=(9, 9))
    with pytest.raises(DataError, match=r"1.png is 9x9 but earlier ones are 6x5; give size="):
        image_folder_dataset(root)
    assert image_folder_dataset(root, size=4)[0].tensors[0].shape == (3, 3, 4, 4)
    with pytest.raises(DataError, match="does not exist"):
        image_folder_dataset(tmp_path / "nope")
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    (empty / "val").mkdir()
    with pytest.raises(DataError, match="has no class folders"):
        image_folder_dataset(empty)


# ------------------------------------------------------------------------------------------ factory


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    (tmp_path / "my_data_mod.py").write_text(
        textwrap.dedent("""
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        def good():
            ds = TensorDataset(torch.randn(12, 3, 7, 7), torch.arange(12) % 4)
            return DataLoader(ds, batch_size=4, shuffle=True), DataLoader(ds, batch_size=4)

        def one():
            return good()[0]

        def triple():
            return good() + (None,)

        def boom():
            raise RuntimeError("disk on fire")

        not_callable = 3
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_data_mod"
    sys.modules.pop("my_data_mod", None)


def test_factory_loaders(factory_module):
    b = resolve_data(f"{factory_module}:good")
    assert b.input_shape == (3, 7, 7) and b.num_classes == 4
    assert b.train_loader.batch_size == 4


@pytest.mark.parametrize(
    ("attr", "match"),
    [
        ("one", r"must return \(train_loader, val_loader\).* returned DataLoader"),
        ("triple", r"returned \(DataLoader, DataLoader, NoneType\)"),
        ("boom", r"factory raised RuntimeError: disk on fire"),
        ("not_callable", r"has no callable 'not_callable'"),
    ],
)
def test_factory_errors(factory_module, attr, match):
    with pytest.raises(DataError, match=match):
        resolve_data(f"{factory_module}:{attr}")


def test_resolve_unknown_and_malformed():
    with pytest.raises(DataError, match="unknown data 'mnist'"):
        resolve_data("mnist")
    with pytest.raises(DataError, match="cannot import 'no_such_pkg_xyz'"):
        resolve_data("no_such_pkg_xyz:f")
    with pytest.raises(DataError, match="needs a PATH"):
        resolve_data("imagefolder:")
    with pytest.raises(TrainConfigError, match="fashion-mnist only"):
        resolve_data("digits", subset=10)
