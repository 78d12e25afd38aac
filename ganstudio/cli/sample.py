"""The `sample` command: samples from a checkpoint, as a PNG grid (images) or a .npy file of the raw
samples (images or points); `--class K` for a conditional model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganstudio.cli.common import EXIT_BAD_INPUT, EXIT_OK, error


def load_generator(checkpoint: str, model_file: str | None = None):
    """(G in eval mode, the checkpoint's config): the EMA generator when the run kept one. Raises
    CheckpointError or ModelCodeError, with a message for people. `ganstudio fid` samples it too."""
    import torch

    from ganstudio.core import models
    from ganstudio.core.checkpoint import io as checkpoints
    from ganstudio.core.checkpoint.io import CheckpointError
    from ganstudio.core.config import is_2d, resolved_image_shape
    from ganstudio.core.models import conditional, probe, provenance, user

    ckpt = checkpoints.load(checkpoint)
    if not ckpt.get("verified", True):
        print(checkpoints.unverified_note(checkpoint), file=sys.stderr)
    cfg = checkpoints.config_of(ckpt)
    shape = (2,) if is_2d(cfg) else resolved_image_shape(cfg.data)
    # Your own model: the file the checkpoint records (same hash), or the one --model-file names.
    ref = provenance.for_checkpoint(ckpt, checkpoint, model_file)
    code = user.load(ref) if ref is not None else None
    g, d = models.build(cfg, shape, code, conditional.classes_in(ckpt["models"]["G"]))
    if code is not None:
        probe.check(g, d, ref.path, cfg.model.latent_dim, shape, torch.device("cpu"))
    use_ema = bool(ckpt["models"].get("G_ema")) and cfg.train.ema > 0
    try:
        g.load_state_dict(ckpt["models"]["G_ema" if use_ema else "G"])
    except RuntimeError as e:
        detail = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        raise CheckpointError(f"{checkpoint} does not match its config: {detail[:600]}") from None
    return g.eval(), cfg


def sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ganstudio.core.checkpoint.io import CheckpointError
    from ganstudio.core.config import is_2d
    from ganstudio.core.image import save_grid_png, to_grid
    from ganstudio.core.models import conditional
    from ganstudio.core.models.user import ModelCodeError

    if args.n < 1:
        error(f"--n {args.n}: ask for at least 1 sample")
        return EXIT_BAD_INPUT
    if not 1 <= args.scale <= 64:
        error(f"--scale {args.scale}: use a whole number from 1 to 64")
        return EXIT_BAD_INPUT
    try:
        g, cfg = load_generator(args.checkpoint, args.model_file)
    except (CheckpointError, ModelCodeError) as e:
        error(str(e))
        return EXIT_BAD_INPUT
    labels, problem = _labels(args, getattr(g, "num_classes", None))
    if problem:
        error(problem)
        return EXIT_BAD_INPUT
    gen = torch.Generator().manual_seed(args.seed)
    z = torch.randn(args.n, cfg.model.latent_dim, generator=gen)
    with torch.no_grad():
        out = conditional.generate(g.eval(), z, labels)
    default = Path(args.checkpoint).with_suffix(".npy" if is_2d(cfg) else ".png").name
    target = Path(args.out or f"samples-{default}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() == ".npy":  # the raw samples: (N, C, H, W) or (N, 2)
            np.save(target, out.numpy().astype(np.float32))
        elif is_2d(cfg):
            error(f"--out {target}: 2D samples are written as points; use a .npy file name")
            return EXIT_BAD_INPUT
        else:
            nrow = max(1, int(round(args.n**0.5)))
            grid = to_grid(out, nrow=nrow)
            if args.scale > 1:
                grid = grid.repeat(args.scale, axis=0).repeat(args.scale, axis=1)  # nearest: crisp pixels
            save_grid_png(grid, target)
    except (OSError, ValueError) as e:
        error(f"cannot write {target}: {e}")
        return EXIT_BAD_INPUT
    print(target)
    return EXIT_OK


def _labels(args: argparse.Namespace, num_classes: int | None):
    """(the classes to sample, None for an unconditional model; a problem for people, or "")."""
    import torch

    if num_classes is None:
        if args.label is not None:
            return (
                None,
                f"--class {args.label}: {args.checkpoint} is not a conditional model (model.conditional)",
            )
        return None, ""
    if args.label is None:
        return torch.arange(args.n) % num_classes, ""
    if not 0 <= args.label < num_classes:
        return None, f"--class {args.label}: the model knows classes 0 to {num_classes - 1}"
    return torch.full((args.n,), args.label, dtype=torch.int64), ""
