"""Tiny stand-ins for the MNIST, Fashion-MNIST and CIFAR-10 files, in torchvision's own layout.

Tests and benchmarks load these through the real torchvision classes, so nothing is downloaded.
MNIST-style sets need no help: torchvision only checks that their files exist. CIFAR-10's loader
also verifies each file's MD5 against the real release, which no fake can match;
`accept_fake_cifar10` points those expected checksums at the fake files, so the check still runs.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil
import struct
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR10

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_fake_mnist(
    root: str | Path, n: int = 20, kind: str = "MNIST", *, gz: bool = False, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Write n random 28x28 training images (and 5 test images) under root/<kind>/raw.

    kind: "MNIST" or "FashionMNIST" (the torchvision class name, which names the folder).
    gz: write only the .gz files, as they come from the mirrors.
    Returns the training images (n, 28, 28) uint8 and labels (n,) int64 as written.
    """
    if kind not in ("MNIST", "FashionMNIST"):
        raise ValueError(f"kind must be 'MNIST' or 'FashionMNIST', not {kind!r}")
    rng = np.random.default_rng(seed)
    raw = Path(root) / kind / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    test_images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    test_labels = rng.integers(0, 10, size=5).astype(np.int64)
    for split, imgs, labs in (("train", images, labels), ("t10k", test_images, test_labels)):
        # The idx format: big-endian int32 magic (2051 images, 2049 labels), the sizes, then bytes.
        image_bytes = struct.pack(">iiii", 2051, len(imgs), 28, 28) + imgs.tobytes()
        label_bytes = struct.pack(">ii", 2049, len(labs)) + labs.astype(np.uint8).tobytes()
        for name, data in (
            (f"{split}-images-idx3-ubyte", image_bytes),
            (f"{split}-labels-idx1-ubyte", label_bytes),
        ):
            if gz:
                (raw / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return images, labels


def write_fake_cifar10(
    root: str | Path, n: int = 20, *, archive: bool = False, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Write n random 32x32 RGB training images over data_batch_1..5 (plus test_batch, batches.meta)
    under root/cifar-10-batches-py, or only as root/cifar-10-python.tar.gz when archive is True.

    Returns the training images (n, 32, 32, 3) uint8 HWC and labels (n,) int64 as written.
    Load them inside `accept_fake_cifar10(root)`.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.int64)

    def batch(imgs: np.ndarray, labs: np.ndarray, label: str) -> dict:
        # CIFAR stores each image as 3072 bytes: the red plane, then green, then blue, row-major.
        data = imgs.transpose(0, 3, 1, 2).reshape(len(imgs), 3072)
        names = [f"fake_{i}.png" for i in range(len(imgs))]
        return {"batch_label": label, "labels": labs.tolist(), "data": data, "filenames": names}

    parts = np.array_split(np.arange(n), 5)
    for k, idx in enumerate(parts, start=1):
        _pickle(folder / f"data_batch_{k}", batch(images[idx], labels[idx], f"training batch {k} of 5"))
    test = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    _pickle(folder / "test_batch", batch(test, rng.integers(0, 10, size=4), "testing batch 1 of 1"))
    meta = {"label_names": CIFAR_CLASSES, "num_cases_per_batch": len(parts[0]), "num_vis": 3072}
    _pickle(folder / "batches.meta", meta)

    if archive:
        with tarfile.open(root / CIFAR10.filename, "w:gz") as tar:
            tar.add(folder, arcname=CIFAR10.base_folder)
        shutil.rmtree(folder)
    return images, labels


@contextmanager
def accept_fake_cifar10(root: str | Path) -> Iterator[None]:
    """Within the block, torchvision's CIFAR10 expects the MD5s of the fake files under root.

    Covers both the unpacked batches and the .tar.gz archive, whichever write_fake_cifar10 wrote.
    """
    root = Path(root)
    sums = {}
    folder = root / CIFAR10.base_folder
    if folder.is_dir():
        sums = {p.name: _md5(p.read_bytes()) for p in folder.iterdir()}
    archive = root / CIFAR10.filename
    if archive.is_file():
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    sums[Path(member.name).name] = _md5(tar.extractfile(member).read())
    saved = {k: getattr(CIFAR10, k) for k in ("train_list", "test_list", "meta", "tgz_md5")}
    try:
        CIFAR10.train_list = [[name, sums.get(name, md5)] for name, md5 in saved["train_list"]]
        CIFAR10.test_list = [[name, sums.get(name, md5)] for name, md5 in saved["test_list"]]
        CIFAR10.meta = {**saved["meta"], "md5": sums.get(saved["meta"]["filename"], saved["meta"]["md5"])}
        if archive.is_file():
            CIFAR10.tgz_md5 = _md5(archive.read_bytes())
        yield
    finally:
        for k, v in saved.items():
            setattr(CIFAR10, k, v)


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
