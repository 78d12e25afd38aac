"""ganstudio.core.data: every dataset kind, loaded offline from real or fake files."""

from __future__ import annotations

import math
import socket
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganstudio.core.config import DataConfig
from ganstudio.core.data import DataError, Dataset, load_dataset
from tests.core.fake_torchvision import accept_fake_cifar10, write_fake_cifar10, write_fake_mnist

LUMA = torch.tensor([0.299, 0.587, 0.114])
STEP = 2 / 255  # one uint8 level in [-1, 1]


def scaled(images: np.ndarray) -> torch.Tensor:
    """uint8 images -> the [-1, 1] floats the loader should produce."""
    return torch.from_numpy(images).float() / 255 * 2 - 1


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails, as on a machine offline; counts the attempts."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


# --- digits -------------------------------------------------------------------------------------


def test_digits_native():
    from sklearn.datasets import load_digits

    ds = load_dataset(DataConfig(dataset="digits"))
    assert ds.x.shape == (1797, 1, 8, 8) and ds.x.dtype == torch.float32
    assert ds.shape == (1, 8, 8) and not ds.is_2d
    assert ds.x.min().item() == -1.0 and ds.x.max().item() == 1.0
    expected = torch.from_numpy(load_digits().images).float() / 16 * 2 - 1
    torch.testing.assert_close(ds.x[:, 0], expected)
    assert ds.labels.dtype == torch.int64 and ds.labels.shape == (1797,)
    assert sorted(ds.labels.unique().tolist()) == list(range(10))
    assert ds.labels[:10].tolist() == list(range(10))  # sklearn's first ten are 0..9 in order
    assert ds.num_classes == 10 and ds.modes is None and ds.mode_std is None and ds.warnings == ()


def test_digits_resized_to_16_rgb():
    native = load_dataset(DataConfig(dataset="digits")).x
    ds = load_dataset(DataConfig(dataset="digits", image_size=16, channels=3))
    assert ds.x.shape == (1797, 3, 16, 16) and ds.shape == (3, 16, 16)
    assert torch.equal(ds.x[:, 0], ds.x[:, 1]) and torch.equal(ds.x[:, 0], ds.x[:, 2])
    assert ds.x.min() >= -1 and ds.x.max() <= 1
    # Upsampling keeps each image's mean brightness.
    torch.testing.assert_close(ds.x.mean(dim=(1, 2, 3)), native.mean(dim=(1, 2, 3)), atol=0.02, rtol=0)


# --- 2D toys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, count", [("ring8", 8), ("grid25", 25), ("spiral", 25)])
def test_toy_points_sit_on_their_modes(name, count):
    ds = load_dataset(DataConfig(dataset=name), seed=3)
    assert ds.is_2d and ds.shape == (2,) and ds.x.shape == (50_000, 2) and ds.x.dtype == torch.float32
    assert ds.labels is None and ds.num_classes is None
    assert ds.modes.shape == (count, 2)
    nearest = torch.cdist(ds.x, ds.modes).min(dim=1)
    assert nearest.values.max() < 6 * ds.mode_std
    assert torch.bincount(nearest.indices, minlength=count).tolist() == [50_000 // count] * count
    # Shuffled: the first points are not all from one mode.
    assert len(nearest.indices[:100].unique()) > count // 2
    # The spread around each mode is the promised std.
    offsets = ds.x - ds.modes[nearest.indices]
    assert offsets.std().item() == pytest.approx(ds.mode_std, rel=0.05)


def test_toy_modes_geometry():
    ring = load_dataset(DataConfig(dataset="ring8"))
    assert ring.mode_std == 0.02
    torch.testing.assert_close(ring.modes.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(ring.modes[:, 1], ring.modes[:, 0]).remainder(2 * torch.pi).sort().values
    torch.testing.assert_close(angles.diff(), torch.full((7,), torch.pi / 4))

    grid = load_dataset(DataConfig(dataset="grid25"))
    assert grid.mode_std == 0.05
    assert {tuple(p) for p in grid.modes.tolist()} == {
        (float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)
    }

    spiral = load_dataset(DataConfig(dataset="spiral"))
    assert spiral.mode_std == 0.05
    assert spiral.modes.abs().max() <= 4.0 + 1e-5
    gaps = torch.cdist(spiral.modes, spiral.modes) + 100 * torch.eye(25)
    assert gaps.min() > 20 * spiral.mode_std  # modes never blur into each other
    radii = spiral.modes.norm(dim=1)
    assert torch.all(radii.diff() > 0)  # one mode after another, outwards along the spiral


def test_toys_are_deterministic_per_seed():
    for name in ("ring8", "grid25", "spiral"):
        a = load_dataset(DataConfig(dataset=name), seed=7)
        b = load_dataset(DataConfig(dataset=name), seed=7)
        c = load_dataset(DataConfig(dataset=name), seed=8)
        assert torch.equal(a.x, b.x)
        assert not torch.allclose(a.x, c.x)
        assert torch.equal(a.modes, c.modes)  # the modes are fixed; only the points depend on the seed


# --- MNIST, Fashion-MNIST, CIFAR-10 from fake files ---------------------------------------------


def test_mnist_from_files(tmp_path, no_network):
    images, labels = write_fake_mnist(tmp_path, n=20)
    ds = load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)))
    assert ds.x.shape == (20, 1, 28, 28) and ds.x.dtype == torch.float32
    torch.testing.assert_close(ds.x[:, 0], scaled(images))
    assert ds.x.min().item() == -1.0 and ds.x.max().item() == 1.0
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == labels.tolist()
    assert ds.num_classes == 10
    assert no_network == []


def test_fashion_mnist_resized_rgb(tmp_path, no_network):
    images, labels = write_fake_mnist(tmp_path, n=20, kind="FashionMNIST", seed=1)
    ds = load_dataset(DataConfig(dataset="fashion-mnist", root=str(tmp_path), image_size=16, channels=3))
    assert ds.x.shape == (20, 3, 16, 16)
    assert ds.labels.tolist() == labels.tolist()
    assert torch.equal(ds.x[:, 0], ds.x[:, 2])
    expected = F.interpolate(scaled(images)[:, None], size=(16, 16), mode="bilinear", antialias=True)
    torch.testing.assert_close(ds.x[:, :1], expected.clamp(-1, 1), atol=1e-5, rtol=0)
    assert ds.x.min() >= -1 and ds.x.max() <= 1


def test_mnist_from_gz_files_without_download(tmp_path, no_network):
    images, _ = write_fake_mnist(tmp_path, n=12, gz=True)
    raw = tmp_path / "MNIST" / "raw"
    assert not (raw / "train-images-idx3-ubyte").exists()
    ds = load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)), download=False)
    torch.testing.assert_close(ds.x[:, 0], scaled(images))
    assert (raw / "train-images-idx3-ubyte").is_file()  # unpacked once, next to the .gz
    assert no_network == []


def test_mnist_damaged_file_is_reported(tmp_path):
    write_fake_mnist(tmp_path, n=20)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])  # a truncated download
    with pytest.raises(DataError, match="could not be read") as e:
        load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)), download=False)
    assert str(path.parent) in str(e.value)


def test_cifar10_from_files(tmp_path, no_network):
    images, labels = write_fake_cifar10(tmp_path, n=20)
    with accept_fake_cifar10(tmp_path):
        ds = load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path)))
    assert ds.x.shape == (20, 3, 32, 32)
    torch.testing.assert_close(ds.x, scaled(images).permute(0, 3, 1, 2))
    assert ds.labels.tolist() == labels.tolist() and ds.num_classes == 10
    assert no_network == []


def test_cifar10_gray_and_resized(tmp_path):
    images, _ = write_fake_cifar10(tmp_path, n=20)
    with accept_fake_cifar10(tmp_path):
        ds = load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path), image_size=16, channels=1))
    assert ds.x.shape == (20, 1, 16, 16)
    gray = (scaled(images) * LUMA).sum(dim=-1)[:, None]  # luminance of the [-1, 1] RGB values
    expected = F.interpolate(gray, size=(16, 16), mode="bilinear", antialias=True)
    torch.testing.assert_close(ds.x, expected.clamp(-1, 1), atol=1e-5, rtol=0)


def test_cifar10_from_archive_without_download(tmp_path, no_network):
    images, labels = write_fake_cifar10(tmp_path, n=10, archive=True)
    assert not (tmp_path / "cifar-10-batches-py").exists()
    with accept_fake_cifar10(tmp_path):
        ds = load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path)), download=False)
    torch.testing.assert_close(ds.x, scaled(images).permute(0, 3, 1, 2))
    assert ds.labels.tolist() == labels.tolist()
    assert no_network == []


def test_cifar10_unofficial_archive_is_refused(tmp_path):
    write_fake_cifar10(tmp_path, n=10, archive=True)  # not accepted: its MD5 is not the real one
    with pytest.raises(DataError, match="MD5") as e:
        load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path)), download=False)
    assert "cifar-10-python.tar.gz" in str(e.value)
    assert not (tmp_path / "cifar-10-batches-py").exists()


@pytest.mark.parametrize("download", [False, True])
@pytest.mark.parametrize("name, kind", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_missing_files_message(tmp_path, no_network, name, kind, download):
    root = tmp_path / "data"
    with pytest.raises(DataError) as e:
        load_dataset(DataConfig(dataset=name, root=str(root)), download=download)
    message = str(e.value)
    assert str(root / kind / "raw") in message
    for file in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        assert file in message
    if download:
        assert "Downloading them failed" in message and "network disabled in tests" in message
        assert no_network  # it did try, and was refused
    else:
        assert "not allowed" in message
        assert no_network == []


def test_mnist_names_the_one_missing_file(tmp_path, no_network):
    write_fake_mnist(tmp_path, n=20)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"\(missing: t10k-labels-idx1-ubyte\)"):
        load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)), download=False)


@pytest.mark.parametrize("download", [False, True])
def test_cifar10_missing_files_message(tmp_path, no_network, download):
    with pytest.raises(DataError) as e:
        load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path)), download=download)
    message = str(e.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "data_batch_1..5" in message and "cifar-10-python.tar.gz" in message
    assert ("Downloading them failed" in message) == download
    assert bool(no_network) == download


# --- folder -------------------------------------------------------------------------------------


def solid(mode: str, size: tuple[int, int], color) -> Image.Image:
    return Image.new(mode, size, color)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Nested folders, png and jpg, gray and RGB, one wide image, one corrupt file, one text file."""
    root = tmp_path / "pictures"
    (root / "a" / "b").mkdir(parents=True)
    solid("L", (30, 50), 200).save(root / "a" / "b" / "gray.jpg", quality=95)
    # Wide: red | green | blue, green well beyond the centre square (x 40..60) so resampling
    # does not reach the other colours. A centre crop keeps only green; squashing would not.
    wide = Image.new("RGB", (100, 20), (255, 0, 0))
    wide.paste((0, 255, 0), (30, 0, 70, 20))
    wide.paste((0, 0, 255), (70, 0, 100, 20))
    wide.save(root / "a" / "wide.png")
    solid("RGB", (16, 16), (0, 0, 255)).save(root / "blue.PNG")  # upper-case extension
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / "notes.txt").write_text("not an image, and not counted")
    return root


def test_folder_rgb(image_folder):
    ds = load_dataset(DataConfig(dataset="folder", root=str(image_folder), image_size=8))
    assert ds.x.shape == (3, 3, 8, 8) and ds.shape == (3, 8, 8)
    assert ds.labels is None and ds.num_classes is None
    gray, wide, blue = ds.x  # sorted by path: a/b/gray.jpg, a/wide.png, blue.PNG
    torch.testing.assert_close(gray, torch.full((3, 8, 8), 200 / 255 * 2 - 1), atol=3 * STEP, rtol=0)
    torch.testing.assert_close(wide, torch.tensor([-1.0, 1.0, -1.0]).view(3, 1, 1).expand(3, 8, 8))
    torch.testing.assert_close(blue, torch.tensor([-1.0, -1.0, 1.0]).view(3, 1, 1).expand(3, 8, 8))
    assert len(ds.warnings) == 1
    assert "skipped 1 unreadable file" in ds.warnings[0] and "broken.jpg" in ds.warnings[0]
    assert str(image_folder) in ds.warnings[0]


def test_folder_gray_native_size(image_folder):
    ds = load_dataset(DataConfig(dataset="folder", root=str(image_folder), channels=1))
    assert ds.x.shape == (3, 1, 64, 64)
    gray, wide, blue = ds.x[:, 0]
    torch.testing.assert_close(gray, torch.full((64, 64), 200 / 255 * 2 - 1), atol=3 * STEP, rtol=0)
    # Pure green and pure blue through the luminance weights.
    torch.testing.assert_close(wide, torch.full((64, 64), 0.587 * 2 - 1), atol=STEP, rtol=0)
    torch.testing.assert_close(blue, torch.full((64, 64), 0.114 * 2 - 1), atol=STEP, rtol=0)


def test_folder_transparent_png_on_white(tmp_path):
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    ds = load_dataset(DataConfig(dataset="folder", root=str(tmp_path), image_size=4))
    torch.testing.assert_close(ds.x, torch.ones(1, 3, 4, 4))
    assert ds.warnings == ()


def test_folder_missing_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="does not exist") as e:
        load_dataset(DataConfig(dataset="folder", root=str(missing)))
    assert str(missing) in str(e.value)


def test_folder_path_is_a_file(tmp_path):
    file = tmp_path / "one.png"
    solid("RGB", (8, 8), (1, 2, 3)).save(file)
    with pytest.raises(DataError, match="is a file, not a folder") as e:
        load_dataset(DataConfig(dataset="folder", root=str(file)))
    assert str(file) in str(e.value)


def test_folder_without_images(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match="no image files") as e:
        load_dataset(DataConfig(dataset="folder", root=str(tmp_path)))
    message = str(e.value)
    assert str(tmp_path) in message and "1 other files" in message
    assert "png, jpg, jpeg" in message


def test_folder_with_only_unreadable_images(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG but then nothing")
    (tmp_path / "b.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="found 2 image files") as e:
        load_dataset(DataConfig(dataset="folder", root=str(tmp_path)))
    assert "none could be read" in str(e.value) and "a.png" in str(e.value)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'imagenet'"):
        load_dataset(DataConfig(dataset="imagenet"))


# --- every Dataset is checked when it is built (issue #9) ----------------------------------------


def _points(n: int = 8) -> torch.Tensor:
    return torch.zeros(n, 2)


def _three() -> torch.Tensor:
    return torch.zeros(3, 1, 8, 8)


BAD_DATASETS = [
    # Dataset fields, words the message must hold after the dataset's name
    (
        dict(x=torch.zeros(20, 1, 8, 8), labels=torch.zeros(19, dtype=torch.int64), num_classes=10),
        ["20 images but 19 labels"],
    ),
    (
        dict(x=torch.zeros(20, 1, 8, 8), labels=torch.zeros(21, dtype=torch.int64), num_classes=10),
        ["20 images but 21 labels"],
    ),
    (dict(x=_three(), labels=torch.tensor([0, 10, 2]), num_classes=10), ["labels from 0 to 10", "0..9"]),
    (dict(x=_three(), labels=torch.tensor([0, -1, 2]), num_classes=10), ["labels from -1 to 2"]),
    (dict(x=_three(), labels=torch.zeros(3), num_classes=10), ["torch.float32 labels", "int64"]),
    (dict(x=_three(), labels=torch.zeros(3, dtype=torch.int64)), ["num_classes = None"]),
    (dict(x=_three(), num_classes=10), ["num_classes = 10 but no labels"]),
    (dict(x=torch.zeros(3, 1, 8, 8, dtype=torch.float64)), ["torch.float64", "float32"]),
    (dict(x=torch.zeros(3, 2, 8, 8)), ["shape (3, 2, 8, 8)"]),
    (dict(x=torch.zeros(3, 1, 8, 9)), ["shape (3, 1, 8, 9)"]),
    (dict(x=torch.zeros(0, 2)), ["no samples"]),
    (dict(x=torch.full((3, 1, 4, 4), 1.5)), ["from 1.5 to 1.5", "[-1, 1]"]),
    (dict(x=torch.tensor([[0.0, math.nan]])), ["not finite"]),
    (dict(x=torch.tensor([[0.0, math.inf]])), ["not finite"]),
    (dict(x=_points(), modes=torch.zeros(8, 2)), ["mode_std = None"]),
    (dict(x=_points(), modes=torch.zeros(8, 3), mode_std=0.1), ["mode centres (8, 3)"]),
    (dict(x=_points(), modes=torch.zeros(8, 2), mode_std=0.0), ["mode_std = 0.0"]),
    (dict(x=torch.zeros(3, 1, 4, 4), modes=torch.zeros(8, 2), mode_std=0.1), ["not images"]),
]


@pytest.mark.parametrize(("fields", "words"), BAD_DATASETS, ids=[w[0] for _, w in BAD_DATASETS])
def test_an_inconsistent_dataset_is_refused_when_built(fields, words):
    with pytest.raises(DataError) as e:
        Dataset(**fields, name="my set")
    message = str(e.value)
    assert message.startswith("my set "), message
    for w in words:
        assert w in message, (w, message)


def test_fewer_mnist_labels_than_images_is_refused_at_load(tmp_path, no_network):
    # Before: it trained, then every metrics evaluation failed on the mismatch.
    write_fake_mnist(tmp_path, n=20)
    labels = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.write_bytes(struct.pack(">ii", 2049, 19) + bytes(19))
    with pytest.raises(DataError) as e:
        load_dataset(DataConfig(dataset="mnist", root=str(tmp_path)), download=False)
    assert f"MNIST in {tmp_path} has 20 images but 19 labels" in str(e.value)


# --- a failed MNIST/Fashion-MNIST/CIFAR-10 load leaves the disk as it found it -------------------

TORCHVISION_SETS = [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST"), ("cifar10", "cifar-10-batches-py")]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("name", [n for n, _ in TORCHVISION_SETS])
def test_failed_download_leaves_no_folders_behind(tmp_path, no_network, name):
    root = tmp_path / "new" / "data"  # neither exists: the download would create both
    with pytest.raises(DataError, match="Downloading them failed"):
        load_dataset(DataConfig(dataset=name, root=str(root)), download=True)
    assert tree(tmp_path) == set()


@pytest.mark.parametrize(("name", "own"), TORCHVISION_SETS)
def test_failed_download_keeps_what_was_there(tmp_path, no_network, name, own):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / own).mkdir()  # the dataset's folder existed, empty but for a file of the user's
    (tmp_path / own / "readme.txt").write_text("mine too")
    (tmp_path / "empty").mkdir()
    before = tree(tmp_path)
    with pytest.raises(DataError, match="Downloading them failed"):
        load_dataset(DataConfig(dataset=name, root=str(tmp_path)), download=True)
    assert tree(tmp_path) == before
    assert (tmp_path / own / "readme.txt").read_text() == "mine too"


@pytest.mark.parametrize("name", [n for n, _ in TORCHVISION_SETS])
def test_a_download_cut_off_midway_is_removed(tmp_path, monkeypatch, name):
    from torchvision.datasets import utils

    def cut_off(url: str, filename: str, chunk_size: int = 0) -> None:
        Path(filename).write_bytes(b"the first bytes of the file")
        raise urllib.error.URLError("connection reset by peer")

    monkeypatch.setattr(utils, "_get_redirect_url", lambda url, max_hops=3: url)
    monkeypatch.setattr(utils, "_urlretrieve", cut_off)
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="connection reset by peer"):
        load_dataset(DataConfig(dataset=name, root=str(tmp_path)), download=True)
    assert tree(tmp_path) == {"keep.txt"}
