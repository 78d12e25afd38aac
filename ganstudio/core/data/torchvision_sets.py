"""MNIST, Fashion-MNIST and CIFAR-10 (training split) through torchvision, from files on disk.

Loading never needs the network when the files are there: torchvision's own classes read them,
and the compressed files as downloaded (MNIST's .gz, CIFAR-10's .tar.gz) are unpacked locally
first, because torchvision only unpacks them as part of a download. The whole split is converted
from torchvision's uint8 `.data` in one vectorised step, not image by image through PIL.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10, MNIST, FashionMNIST
from torchvision.datasets.utils import check_integrity, extract_archive

from .base import DataError, Dataset
from .images import to_training_images

CLASSES: dict[str, type[MNIST] | type[CIFAR10]] = {
    "mnist": MNIST,
    "fashion-mnist": FashionMNIST,
    "cifar10": CIFAR10,
}
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def load_torchvision(name: str, root: str, channels: int, size: int, download: bool) -> Dataset:
    cls = CLASSES[name]
    folder = Path(root).expanduser().absolute()
    ds = _open(name, cls, folder, download)
    raw = torch.as_tensor(ds.data)
    # MNIST keeps (N, H, W) uint8; CIFAR-10 keeps (N, H, W, C) uint8 as numpy. Both become (N, C, H, W).
    raw = raw.unsqueeze(1) if raw.dim() == 3 else raw.permute(0, 3, 1, 2)
    if raw.shape[0] == 0:
        raise DataError(f"{TITLES[name]} in {folder} holds no training images; replace its files")
    x = to_training_images(raw, max_value=255.0, channels=channels, size=size)
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return Dataset(x=x, labels=labels, num_classes=10, name=f"{TITLES[name]} in {folder}")


def _open(name: str, cls: type, folder: Path, download: bool):
    with _undone_on_failure(cls, folder):
        return _open_or_fetch(name, cls, folder, download)


def _open_or_fetch(name: str, cls: type, folder: Path, download: bool):
    _unpack_local_archives(cls, folder, keep_going=download)
    if not _missing_files(cls, folder):
        try:
            return cls(str(folder), train=True, download=False)
        except Exception as e:  # torchvision raises RuntimeError, AssertionError, pickle errors...
            raise DataError(
                f"{TITLES[name]} files in {_data_folder(cls, folder)} could not be read: {_short(e)}. "
                "They may be damaged or incomplete: replace them, or delete them so they are downloaded "
                "again."
            ) from e
    if not download:
        raise DataError(_missing_message(name, cls, folder, "Downloading was not allowed."))
    try:
        return cls(str(folder), train=True, download=True)
    except Exception as e:  # no network, a mirror down, a proxy: urllib errors and RuntimeError
        raise DataError(_missing_message(name, cls, folder, f"Downloading them failed: {_short(e)}")) from e


@contextmanager
def _undone_on_failure(cls: type, folder: Path) -> Iterator[None]:
    """If loading fails, remove what this attempt wrote: folders it created (down to data.root and
    its parents), partial downloads, unpacked files. A failed attempt leaves the disk as it found
    it; nothing that existed before is touched, and in data.root itself only the names torchvision
    writes there (its folder, CIFAR-10's archive) are considered."""
    own = _own_folders(cls, folder)
    chain = [*reversed(folder.parents), folder, *own]  # every folder torchvision may create
    existed = {d: d.exists() for d in chain}
    before = {d: set(os.listdir(d)) if d.is_dir() else set() for d in (folder, *own)}
    try:
        yield
    except BaseException:
        ours = {own[0].name} | ({cls.filename} if not issubclass(cls, MNIST) else set())
        for d in reversed((folder, *own)):  # deepest first
            if not d.is_dir():
                continue
            for entry in set(os.listdir(d)) - before[d]:
                if d != folder or entry in ours:
                    _remove(d / entry)
        for d in reversed(chain):
            if not existed[d]:
                try:
                    d.rmdir()  # only when empty: whatever else is there now is not ours
                except OSError:
                    pass
        raise


def _own_folders(cls: type, folder: Path) -> list[Path]:
    """The folders under data.root that belong to this dataset, outermost first."""
    if issubclass(cls, MNIST):
        return [folder / cls.__name__, folder / cls.__name__ / "raw"]
    return [folder / cls.base_folder]


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        pass  # best effort: the load's own error is the one to report


def _data_folder(cls: type, folder: Path) -> Path:
    if issubclass(cls, MNIST):
        return folder / cls.__name__ / "raw"
    return folder / cls.base_folder


def _required_files(cls: type, folder: Path) -> list[Path]:
    """The files torchvision checks for: the test split's too, though only training data is used."""
    where = _data_folder(cls, folder)
    if issubclass(cls, MNIST):
        return [where / filename.removesuffix(".gz") for filename, _ in cls.resources]
    names = [filename for filename, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return [where / n for n in names]


def _missing_files(cls: type, folder: Path) -> list[Path]:
    return [p for p in _required_files(cls, folder) if not p.is_file()]


def _unpack_local_archives(cls: type, folder: Path, keep_going: bool) -> None:
    """Unpack compressed files the user put in place themselves, so they load with download off.

    A damaged archive is an error unless a download may follow (keep_going): torchvision then
    fetches a fresh copy, since the damaged one fails its checksum.
    """
    if issubclass(cls, MNIST):
        for target in _missing_files(cls, folder):
            packed = target.with_name(target.name + ".gz")
            if packed.is_file():
                try:
                    data = gzip.decompress(packed.read_bytes())
                except (OSError, EOFError, zlib.error) as e:
                    if keep_going:
                        continue
                    raise DataError(f"{packed} is damaged ({_short(e)}); replace it with a fresh copy") from e
                # Write then rename, so an interrupted unpack never leaves a truncated file behind.
                partial = target.with_name(target.name + ".partial")
                try:
                    partial.write_bytes(data)
                    partial.replace(target)
                except OSError as e:  # a full disk, a read-only folder
                    raise DataError(f"cannot unpack {packed} into {target.parent}: {_short(e)}") from e
        return
    archive = folder / cls.filename
    if _missing_files(cls, folder) and archive.is_file():
        # Checked first: an official archive has a known checksum, and only then is it safe to unpack.
        if not check_integrity(str(archive), cls.tgz_md5):
            if keep_going:
                return
            raise DataError(
                f"{archive} is damaged or not the official archive (its MD5 checksum differs); "
                f"download it again from {cls.url}"
            )
        try:
            extract_archive(str(archive), str(folder))
        except (OSError, EOFError, tarfile.TarError) as e:  # a full disk, a read-only folder
            raise DataError(f"cannot unpack {archive} into {folder}: {_short(e)}") from e


def _missing_message(name: str, cls: type, folder: Path, why: str) -> str:
    title = TITLES[name]
    where = _data_folder(cls, folder)
    missing_files = _missing_files(cls, folder)
    # Name what is missing only when some files are there: a list of everything says nothing new.
    partly = len(missing_files) < len(_required_files(cls, folder))
    missing = f" (missing: {', '.join(p.name for p in missing_files)})" if partly else ""
    if issubclass(cls, MNIST):
        names = [p.name + "(.gz)" for p in _required_files(cls, folder)]
        return (
            f"{title} files not found in {where}{missing}. Put {', '.join(names[:-1])} "
            f"and {names[-1]} there (torchvision checks for the test files too), from {cls.mirrors[0]}, "
            f"or set data.root to the folder that holds {cls.__name__}/. {why}"
        )
    return (
        f"{title} files not found in {where}{missing}. Put data_batch_1..5, test_batch and "
        f"batches.meta there, or the archive {cls.filename} in {folder} (it is unpacked there), "
        f"from {cls.url}; or set data.root to the folder that holds {cls.base_folder}/. {why}"
    )


def _short(e: BaseException, limit: int = 300) -> str:
    """An exception as one line: torchvision's download errors span several."""
    text = re.sub(r"\s+", " ", str(e)).strip() or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
