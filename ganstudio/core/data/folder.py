"""The user's own images: every picture under a folder, squared and sized, in one tensor.

Each image is decoded with Pillow, made L or RGB, scaled so its shorter side is the target size and
centre-cropped to a square. Files that cannot be decoded are skipped and reported in a warning,
so one stray text file or truncated download does not stop a run over thousands of images. A folder
whose images all lie in subfolders (two or more) is labelled, one class per subfolder.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .base import DataError, Dataset
from .images import to_training_images

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_ACCEPTED = ", ".join(e[1:] for e in EXTENSIONS)


def load_folder(root: str, channels: int, size: int) -> Dataset:
    folder = Path(root).expanduser().absolute()
    if not folder.exists():
        raise DataError(f"image folder {folder} does not exist; set data.root to a folder of images")
    if not folder.is_dir():
        raise DataError(
            f"{folder} is a file, not a folder; set data.root to the folder that holds your images"
        )
    every_file = sorted(p for p in folder.rglob("*") if p.is_file())
    files = [p for p in every_file if p.suffix.lower() in EXTENSIONS]
    if not files:
        raise DataError(
            f"no image files in {folder} or its subfolders ({len(every_file)} other files found); "
            f"accepted extensions: {_ACCEPTED}"
        )

    mode = "L" if channels == 1 else "RGB"
    # Decoding releases the GIL inside Pillow, so threads give a real speed-up on big folders.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda p: _read(p, mode, size), files))

    images = [r for r in results if isinstance(r, np.ndarray)]
    failed = [(p, r) for p, r in zip(files, results, strict=True) if isinstance(r, str)]
    if not images:
        path, why = failed[0]
        raise DataError(
            f"found {len(files)} image files in {folder} but none could be read "
            f"(first: {path.relative_to(folder)}: {why}); accepted extensions: {_ACCEPTED}"
        )
    warnings = ()
    if failed:
        path, why = failed[0]
        files_word = "file" if len(failed) == 1 else "files"
        first = f"{path.relative_to(folder)}: {why}"
        warnings = (f"skipped {len(failed)} unreadable {files_word} in {folder} (first: {first})",)
    raw = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    x = to_training_images(raw, max_value=255.0, channels=channels, size=size)
    read = [p for p, r in zip(files, results, strict=True) if isinstance(r, np.ndarray)]
    labels, classes = class_labels(folder, read)
    return Dataset(
        x=x, labels=labels, num_classes=classes, warnings=warnings, name=f"the image folder {folder}"
    )


def class_labels(folder: Path, files: list[Path]) -> tuple[torch.Tensor | None, int | None]:
    """One class per subfolder of `folder` (sorted by name, as torchvision's ImageFolder) when
    every image lies in one and there are at least two; else (None, None): an unlabelled folder."""
    tops = [p.relative_to(folder).parts for p in files]
    if any(len(parts) < 2 for parts in tops):
        return None, None
    names = sorted({parts[0] for parts in tops})
    if len(names) < 2:
        return None, None
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[parts[0]] for parts in tops], dtype=torch.int64), len(names)


def _read(path: Path, mode: str, size: int) -> np.ndarray | str:
    """The image as (size, size, channels) uint8, or why it could not be read."""
    try:
        with Image.open(path) as img:
            # JPEG only: decode at the smallest power-of-two reduction still >= size; big photos load fast.
            img.draft(mode, (size, size))
            img = ImageOps.exif_transpose(img)  # phone photos store their rotation in EXIF
            img = _to_mode(img, mode)
            img = ImageOps.fit(img, (size, size), Image.Resampling.BICUBIC)
            return np.asarray(img, dtype=np.uint8).reshape(size, size, -1)
    except Exception as e:  # Pillow's decoders raise many kinds on malformed files; all mean "skip"
        return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent pixels often hide black or junk colours; show them as white, as viewers do.
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    elif img.mode.startswith("I;16") or img.mode == "I":
        # 16-bit grayscale: convert("L") would clip everything above 255 to white; rescale instead.
        img = Image.fromarray((np.asarray(img, dtype=np.float32) / 257.0).clip(0, 255).astype(np.uint8))
    return img.convert(mode)
