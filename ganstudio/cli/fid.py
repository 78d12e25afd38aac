"""The `fid` command: Inception FID between two sets of images (folders, .npy/.npz arrays, or a
checkpoint whose generator is sampled), printed as a number or, with --json, as
{"fid": ..., "n_a": ..., "n_b": ...}."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

from ganstudio.cli.common import EXIT_BAD_INPUT, EXIT_OK, error


def _generated(args: argparse.Namespace, checkpoint: str, device) -> tuple[int, Iterator]:
    """args.n samples of a checkpoint's generator, in batches (images in [-1, 1])."""
    import torch

    from ganstudio.cli.sample import load_generator
    from ganstudio.core.config import is_2d

    g, cfg = load_generator(checkpoint, args.model_file)
    if is_2d(cfg):
        raise ValueError(f"{checkpoint}: a 2D run; FID is for images")
    g = g.to(device)
    gen = torch.Generator().manual_seed(args.seed)

    def batches():
        with torch.inference_mode():
            for start in range(0, args.n, 250):
                z = torch.randn(min(250, args.n - start), cfg.model.latent_dim, generator=gen)
                yield g(z.to(device)).float().cpu()

    return args.n, batches()


def _side(args: argparse.Namespace, source: str, device) -> tuple[int, Iterator]:
    from ganstudio.core.metrics.fid_inputs import image_batches

    if source.endswith(".pt"):
        return _generated(args, source, device)
    return image_batches(source)


def fid(args: argparse.Namespace) -> int:
    import torch

    from ganstudio.core.checkpoint.io import CheckpointError
    from ganstudio.core.config import ConfigError
    from ganstudio.core.metrics import inception

    if args.n < 2:
        error(f"--n {args.n}: a checkpoint needs at least 2 samples (papers use {inception.PAPER_SAMPLES})")
        return EXIT_BAD_INPUT
    device = torch.device(
        args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
    )
    try:
        model = inception.load_model(args.weights, device)
        feats, counts = [], []
        for source in (args.a, args.b):
            n, batches = _side(args, source, device)
            if n < 2:
                raise ValueError(f"{source}: holds {n} image; FID needs at least 2")
            feats.append(inception.features(model, batches, device=device))
            counts.append(n)
    except inception.InceptionUnavailable as e:
        error(str(e))
        return EXIT_BAD_INPUT
    except (ValueError, CheckpointError, ConfigError) as e:  # InputError, ModelCodeError, 2D runs
        error(str(e))
        return EXIT_BAD_INPUT
    value = inception.fid(*feats)
    if args.json:
        print(json.dumps({"fid": value, "n_a": counts[0], "n_b": counts[1]}))
    else:
        print(f"{value:.4f}")
        if min(counts) < inception.PAPER_SAMPLES:
            print(
                f"(from {counts[0]} and {counts[1]} images; a published FID uses {inception.PAPER_SAMPLES}, "
                "and FID grows as the count shrinks)",
                file=sys.stderr,
            )
    return EXIT_OK
