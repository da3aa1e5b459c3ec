"""Datasets from files: Fashion-MNIST (IDX files), image folders (read with Pillow) and a user's own
``package.module:factory`` returning loaders; ``resolve_data`` turns a ``--data`` string into loaders
plus the input shape and class count read from the data.

Fashion-MNIST is found where Debian's ``dataset-fashion-mnist`` package installs it
(``FASHION_MNIST_DIR``) unless ``data_dir`` names a copy elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from hwprune.errors import DataError, TrainConfigError
from hwprune.runtime.userfn import load_callable
from hwprune.train.data import AnyLoader, TensorLoader
from hwprune.train.idx import read_idx

__all__ = [
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_CLASSES",
    "DataBundle",
    "fashion_mnist_dataset",
    "fashion_mnist_loaders",
    "image_folder_dataset",
    "image_folder_loaders",
    "factory_loaders",
    "stratified_subset",
    "resolve_data",
]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_INSTALL_HINT = (
    "install Debian's package (apt-get install -y dataset-fashion-mnist) or pass data_dir/--data-dir "
    "pointing at a folder with the four IDX files"
)
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F", "P")  # P is checked after conversion below


def _check_split(split: str) -> None:
    if split not in FASHION_MNIST_FILES:
        raise TrainConfigError(f"split must be 'train' or 'test', got {split!r}")


def _fashion_file(data_dir: Path, name: str) -> Path:
    """The file, raw or gzipped (a user's copy may have been unpacked)."""
    for candidate in (data_dir / name, data_dir / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    raise DataError(f"Fashion-MNIST file {data_dir / name} is missing; {_INSTALL_HINT}")


@lru_cache(maxsize=4)
def _fashion_arrays(data_dir: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    root = Path(data_dir)
    img_name, lbl_name = FASHION_MNIST_FILES[split]
    img_path, lbl_path = _fashion_file(root, img_name), _fashion_file(root, lbl_name)
    images = read_idx(img_path, ndim=3)
    labels = read_idx(lbl_path, ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataError(
            f"Fashion-MNIST files {img_path} and {lbl_path} must hold uint8 values, "
            f"got {images.dtype} and {labels.dtype}"
        )
    if images.shape[1:] != (28, 28):
        raise DataError(
            f"{img_path}: images are {images.shape[1]}x{images.shape[2]}, Fashion-MNIST's are 28x28"
        )
    if len(images) != len(labels):
        raise DataError(f"{img_path} holds {len(images)} images but {lbl_path} holds {len(labels)} labels")
    if len(labels) and int(labels.max()) >= len(FASHION_MNIST_CLASSES):
        raise DataError(
            f"{lbl_path}: label {int(labels.max())} out of range 0..{len(FASHION_MNIST_CLASSES) - 1}"
        )
    return images, labels


def stratified_subset(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` samples keeping each class's share (largest remainders get the extra ones).

    Args:
        labels: Integer class labels.
        n: How many to keep (1..len(labels)).
        seed: Which samples of each class are drawn.

    Returns:
        Sorted int64 indices.
    """
    labels = np.asarray(labels)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(labels):
        raise TrainConfigError(f"subset must be an int in 1..{len(labels)}, got {n!r}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    quota = np.floor(exact).astype(np.int64)
    quota[np.argsort(-(exact - quota), kind="stable")[: n - int(quota.sum())]] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota, strict=True)]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def _pad_to(x: torch.Tensor, size: int, what: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    if size < max(h, w):
        raise TrainConfigError(
            f"{what}: size {size} is smaller than the {h}x{w} images; use size >= {max(h, w)}"
        )
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(x, (left, size - w - left, top, size - h - top))


def fashion_mnist_dataset(
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    size: int = 32,
    channels: int = 1,
    subset: int | None = None,
    seed: int = 0,
) -> TensorDataset:
    """Fashion-MNIST (60,000 training / 10,000 test images, 28x28 grey, 10 classes) as a dataset.

    Pixels are scaled to [0, 1], zero-padded to ``size`` x ``size`` (28 -> 32 for CIFAR-style nets) and
    standardised with the mean and standard deviation of the full training split.

    Args:
        split: ``"train"`` or ``"test"`` (the test split is always complete).
        data_dir: Folder with the four IDX files; ``FASHION_MNIST_DIR`` by default.
        size: Side of the output images (>= 28).
        channels: 1, or 3 to repeat the grey channel.
        subset: Keep a stratified subset of this many training images (``split="train"`` only).
        seed: Which images the subset draws.

    Returns:
        A ``TensorDataset`` of float32 ``(N, channels, size, size)`` images and int64 labels.

    Raises:
        DataError: The files are missing (the message says how to install them) or malformed.
        TrainConfigError: Bad split, size, channels or subset.
    """
    _check_split(split)
    if channels not in (1, 3):
        raise TrainConfigError(f"Fashion-MNIST has 1 channel (or 3 repeated ones), got channels={channels!r}")
    if subset is not None and split != "train":
        raise TrainConfigError("subset applies to the training split only; the test split is always complete")
    root = str(Path(data_dir) if data_dir is not None else FASHION_MNIST_DIR)
    if not Path(root).is_dir():
        raise DataError(f"Fashion-MNIST folder {root} does not exist; {_INSTALL_HINT}")
    images, labels = _fashion_arrays(root, split)
    train_images = images if split == "train" else _fashion_arrays(root, "train")[0]
    mean, std = float(train_images.mean()) / 255.0, float(train_images.std()) / 255.0
    if subset is not None:
        keep = stratified_subset(labels, subset, seed)
        images, labels = images[keep], labels[keep]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    x = (_pad_to(x, size, "Fashion-MNIST") - mean) / std
    if channels == 3:
        x = x.repeat(1, 3, 1, 1)
    return TensorDataset(x.contiguous(), torch.from_numpy(labels.astype(np.int64)))


def _loaders(
    train: TensorDataset, test: TensorDataset, batch_size: int, seed: int
) -> tuple[TensorLoader, TensorLoader]:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise TrainConfigError(f"batch_size must be a positive int, got {batch_size!r}")
    gen = torch.Generator().manual_seed(seed)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=gen),
        DataLoader(test, batch_size=batch_size, shuffle=False),
    )


def fashion_mnist_loaders(
    batch_size: int = 128,
    data_dir: str | os.PathLike[str] | None = None,
    size: int = 32,
    channels: int = 1,
    subset: int | None = None,
    seed: int = 0,
) -> tuple[TensorLoader, TensorLoader]:
    """Train and test loaders over ``fashion_mnist_dataset`` (arguments as there).

    Returns:
        ``(train_loader, test_loader)``; only the training loader shuffles (seeded).
    """
    train = fashion_mnist_dataset("train", data_dir, size, channels, subset, seed)
    test = fashion_mnist_dataset("test", data_dir, size, channels)
    return _loaders(train, test, batch_size, seed)


# ---------------------------------------------------------------------------------------------- folders


def _class_folders(root: Path, split: str) -> dict[str, list[Path]]:
    folder = root / split
    if not folder.is_dir():
        raise DataError(
            f"image folder {root} has no {split}/ subfolder; expected {root}/{split}/<class>/<image>"
        )
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder} has no class folders; expected {folder}/<class>/<image>")
    files: dict[str, list[Path]] = {}
    for c in classes:
        found = sorted(p for p in c.iterdir() if p.is_file() and not p.name.startswith("."))
        if not found:
            raise DataError(f"class folder {c} is empty; put images in it or remove it")
        files[c.name] = found
    return files


def _load_image(path: Path, channels: int | None, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as src:
            src.load()
            im: Image.Image = src
            mode = im.mode
            if mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                mode = im.mode
            grey = mode in _GREY_MODES
            want = channels or (1 if grey else 3)
            im = im.convert("L" if want == 1 else "RGB")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"cannot read image {path}: {e}") from e
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _is_grey(path: Path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.mode in _GREY_MODES and im.mode != "P"
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"cannot read image {path}: {e}") from e


def _folder_arrays(
    classes: list[str],
    channels: int,
    resize: tuple[int, int] | None,
    expect: tuple[int, int] | None,
    files: dict[str, list[Path]],
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for label, name in enumerate(classes):
        for path in files[name]:
            arr = _load_image(path, channels, resize)
            shape = (int(arr.shape[1]), int(arr.shape[2]))
            if expect is None:
                expect = shape
            elif shape != tuple(expect):
                raise DataError(
                    f"image {path} is {arr.shape[2]}x{arr.shape[1]} but earlier ones are "
                    f"{expect[1]}x{expect[0]}; give size= (--input-size) to resize all images"
                )
            xs.append(arr)
            ys.append(label)
    if expect is None:
        raise DataError(f"no images in the class folders {', '.join(classes)}")
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys, dtype=torch.int64), (expect[0], expect[1])


def image_folder_dataset(
    root: str | os.PathLike[str], size: int | None = None, channels: int | None = None
) -> tuple[TensorDataset, TensorDataset, list[str]]:
    """Read ``root/train/<class>/*`` and ``root/val/<class>/*`` into memory with Pillow.

    Classes are the sorted folder names (labels 0..K-1), the same in both splits. Images are converted
    to grey (1 channel) when every training image is grey, else to RGB, unless ``channels`` says; they
    are resized to ``size`` x ``size`` when given (else all must share one size), scaled to [0, 1] and
    standardised per channel with the training split's statistics.

    Args:
        root: The folder holding ``train/`` and ``val/``.
        size: Resize every image to this square side.
        channels: 1 or 3 to force grey or RGB.

    Returns:
        ``(train_set, val_set, class_names)``.

    Raises:
        DataError: ``train/`` or ``val/`` missing, no or empty class folders, class sets that differ
            between the splits, an unreadable image or one of another size (each naming the path).
        TrainConfigError: ``size`` or ``channels`` out of range.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    if channels not in (None, 1, 3):
        raise TrainConfigError(f"channels must be 1 or 3, got {channels!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise TrainConfigError(f"size must be a positive int, got {size!r}")
    train_files, val_files = _class_folders(root, "train"), _class_folders(root, "val")
    if set(train_files) != set(val_files):
        only_train = sorted(set(train_files) - set(val_files))
        only_val = sorted(set(val_files) - set(train_files))
        raise DataError(
            f"{root}: train/ and val/ have different classes (only in train: {only_train or 'none'}; "
            f"only in val: {only_val or 'none'}); both need the same class folders"
        )
    classes = sorted(train_files)
    if channels is None:
        channels = 1 if all(_is_grey(p) for fs in train_files.values() for p in fs) else 3
    square = (size, size) if size is not None else None
    x_train, y_train, hw = _folder_arrays(classes, channels, square, None, train_files)
    x_val, y_val, _ = _folder_arrays(classes, channels, square, hw, val_files)
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True)
    std = torch.where(std < 1e-4, torch.ones_like(std), std)  # a constant channel is only centred
    return (
        TensorDataset((x_train - mean) / std, y_train),
        TensorDataset((x_val - mean) / std, y_val),
        classes,
    )


def image_folder_loaders(
    root: str | os.PathLike[str],
    batch_size: int = 64,
    size: int | None = None,
    channels: int | None = None,
    seed: int = 0,
) -> tuple[TensorLoader, TensorLoader]:
    """Train and val loaders over ``image_folder_dataset`` (arguments as there).

    Returns:
        ``(train_loader, val_loader)``; only the training loader shuffles (seeded).
    """
    train, val, _ = image_folder_dataset(root, size, channels)
    return _loaders(train, val, batch_size, seed)


# ---------------------------------------------------------------------------------------------- factory


def _import_factory(spec: str) -> Callable[[], object]:
    fn: Callable[[], object] = load_callable(spec, "--data", DataError)
    return fn


def factory_loaders(spec: str) -> tuple[AnyLoader, AnyLoader]:
    """Call a user's ``package.module:factory`` that returns ``(train_loader, val_loader)``.

    Raises:
        DataError: The spec is malformed, cannot be imported, the factory raises, or it returns anything
            other than a pair of ``torch.utils.data.DataLoader``.
    """
    fn = _import_factory(spec)
    try:
        result = fn()
    except Exception as e:  # the user's code: report it as a data error naming the factory
        raise DataError(f"--data {spec!r}: the factory raised {type(e).__name__}: {e}") from e
    if (
        not isinstance(result, (tuple, list))
        or len(result) != 2
        or not all(isinstance(r, DataLoader) for r in result)
    ):
        got = (
            f"({', '.join(type(r).__name__ for r in result)})"
            if isinstance(result, (tuple, list))
            else type(result).__name__
        )
        raise DataError(
            f"--data {spec!r}: the factory must return (train_loader, val_loader), two "
            f"torch.utils.data.DataLoader; it returned {got}"
        )
    return result[0], result[1]


# ---------------------------------------------------------------------------------------------- resolve


@dataclass(frozen=True)
class DataBundle:
    """Loaders of one ``--data`` choice and what the data says about the model's input and output.

    Attributes:
        name: The ``--data`` string.
        train_loader / val_loader: The loaders (``val_loader`` does not shuffle).
        input_shape: ``(C, H, W)`` of one sample (from the first validation batch).
        num_classes: Number of classes (folder count, dataset classes, or the largest label + 1).
    """

    name: str
    train_loader: AnyLoader
    val_loader: AnyLoader
    input_shape: tuple[int, ...]
    num_classes: int


def _num_classes(loader: AnyLoader, extra: AnyLoader) -> int:
    for ld in (loader, extra):
        ds = ld.dataset
        if isinstance(ds, TensorDataset) and len(ds.tensors) >= 2:
            continue
        classes = getattr(ds, "classes", None)
        if classes is not None:
            return len(classes)
    top = -1
    for ld in (loader, extra):
        ds = ld.dataset
        if isinstance(ds, TensorDataset) and len(ds.tensors) >= 2:
            top = max(top, int(ds.tensors[1].max()))
        else:  # a user's dataset without .classes: scan its labels once
            for batch in ld:
                top = max(top, int(torch.as_tensor(batch[1]).max()))
    if top < 0:
        raise DataError("no labels found in the data; labels must be ints 0..K-1")
    return top + 1


def resolve_data(
    spec: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    size: int | None = None,
    channels: int | None = None,
    subset: int | None = None,
    seed: int = 0,
    num_classes: int | None = None,
) -> DataBundle:
    """Loaders for a ``--data`` choice: ``digits``, ``synthetic``, ``fashion-mnist``,
    ``imagefolder:PATH`` or ``package.module:factory``.

    Args:
        spec: The choice.
        data_dir: Fashion-MNIST's folder (default ``FASHION_MNIST_DIR``).
        batch_size: Batch size of the built-in loaders (a factory's loaders keep their own).
        size: Image side; default 32 for digits/synthetic/Fashion-MNIST, the images' own for folders.
        channels: 1 or 3; default the data's own (3 for synthetic).
        subset: Stratified training subset (Fashion-MNIST only).
        seed: Split, subset and shuffling seed.
        num_classes: Classes of the synthetic set (default 10); the other data have their own.

    Returns:
        A ``DataBundle`` with the loaders, the input shape and the class count read from the data.

    Raises:
        DataError: Unknown choice, or any error of the loader it names.
    """
    from hwprune.train.data import digits_loaders, synthetic_loaders

    if subset is not None and spec != "fashion-mnist":
        raise TrainConfigError(f"subset applies to --data fashion-mnist only, not {spec!r}")
    if num_classes is not None and spec != "synthetic":
        raise TrainConfigError(
            f"num_classes is chosen for --data synthetic only; {spec!r} has its own classes"
        )
    if spec == "digits":
        train, val = digits_loaders(batch_size, size=size or 32, channels=channels or 1, seed=seed)
    elif spec == "synthetic":
        s = size or 32
        train, val = synthetic_loaders(
            batch_size=batch_size, num_classes=num_classes or 10, shape=(channels or 3, s, s), seed=seed
        )
    elif spec == "fashion-mnist":
        train, val = fashion_mnist_loaders(batch_size, data_dir, size or 32, channels or 1, subset, seed)
    elif spec.startswith("imagefolder:"):
        path = spec.removeprefix("imagefolder:")
        if not path:
            raise DataError("--data imagefolder:PATH needs a PATH (a folder with train/ and val/)")
        train, val = image_folder_loaders(path, batch_size, size, channels, seed)
    elif ":" in spec:
        train, val = factory_loaders(spec)
    else:
        raise DataError(
            f"unknown data {spec!r}; use digits, synthetic, fashion-mnist, imagefolder:PATH "
            "or package.module:factory"
        )
    try:
        batch = next(iter(val))
    except StopIteration:
        raise DataError(f"--data {spec!r}: the validation loader yields no batches") from None
    if not isinstance(batch, (tuple, list)) or len(batch) < 2 or not isinstance(batch[0], torch.Tensor):
        raise DataError(f"--data {spec!r}: loaders must yield (inputs, labels) batches of tensors")
    shape = tuple(batch[0].shape[1:])
    return DataBundle(spec, train, val, shape, _num_classes(train, val))
