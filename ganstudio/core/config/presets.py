"""Named starting configs: the experiments a GAN course walks through, one click (or flag) away."""

from __future__ import annotations

from ganstudio.core.config import Config, validate, with_values

# The grid and the spiral: R3GAN's recipe (Huang et al. 2024: the relativistic pairing loss with R1
# and R2, Adam(0, 0.99), no other trick) on the ring's small G and D. Converged (the rule of
# core.metrics.converged) in seconds on one CPU thread: benchmarks/bench_lab.py, seeds 0-9 by steps
# 1,950-3,575 (grid) and 1,775-2,600 (spiral), 4-7 s at load 2. What it replaced (the ring's WGAN-GP recipe,
# or the non-saturating loss, with or without R1) took 3,600-4,500 steps on the grid and never
# converged on the spiral in 6,000: those critics push G's points onto a mode only weakly once they
# are near it, so G's mass stayed smeared between the 25 modes. Pairing each real with a fake and
# penalising D's slope on both keeps D's pull strong and sharp at every mode; the penalties are lazy
# (every 4th step, 4x as heavy), so a step costs less than half of WGAN-GP's two critic steps.
_TOY = {
    "loss.kind": "rpgan",
    "loss.r1": 0.1,
    "loss.r2": 0.1,
    "loss.r_every": 4,
    "optim.d_steps": 1,
    "optim.lr_g": 4e-3,
    "optim.lr_d": 4e-3,
    "optim.beta1": 0.0,
    "optim.beta2": 0.99,
    "model.width": 64,
    "model.latent_dim": 8,
    "train.batch_size": 256,
    "train.ema": 0.99,
    "train.steps": 5000,
    "log.sample_every": 100,
    "metrics.every": 200,
}

# The 2D presets evaluate their modes every 200 steps (metrics.every): on points it costs
# milliseconds, and mode coverage changes quickly there.
_PRESETS: dict[str, tuple[str, dict]] = {
    "digits": ("Classic fully connected GAN on the built-in 8x8 digits (the default).", {}),
    "digits-wgan-gp": (
        "WGAN-GP critic on the digits: 5 critic steps, Adam(0, 0.9).",
        {
            "loss.kind": "wgan-gp",
            "optim.d_steps": 5,
            "optim.beta1": 0.0,
            "optim.beta2": 0.9,
            "optim.lr_g": 1e-4,
            "optim.lr_d": 1e-4,
        },
    ),
    "digits-dcgan": (
        "DCGAN on the digits upscaled to 16x16.",
        {"model.arch": "dcgan", "data.image_size": 16, "model.latent_dim": 64, "model.width": 32},
    ),
    "digits-conditional": (
        "Class-conditional GAN on the digits: ask G for a digit (projection D); one grid row per class.",
        {"model.conditional": True},
    ),
    # Converged (core.metrics.converged: every mode holds 1% of the samples within 5 std, half of
    # them that close to a centre) in seconds, on one CPU thread. WGAN-GP's 1-Lipschitz critic
    # pulls gently near the modes, so G's points jitter with each Adam step: the EMA of G (what
    # the lab and the metrics show) averages the jitter out, and a light penalty (1; the WGAN-GP
    # authors' toy code uses 0.1) lets Adam find the modes fast. The critic is cheap here: width 64
    # costs a third of 128's time per step and converges in as many steps, and 2 critic steps at
    # 2e-3 instead of 5 at 1e-3 halve the steps (benchmarks/bench_lab.py: seeds 0-9 converged by
    # steps 575-725, 3-5 s on a loaded 2-core machine, against 525-575 steps and 14-15 s before).
    # One critic step (any loss: hinge, LSGAN, non-saturating) is faster still on some seeds and
    # never converges on others: G's points stay at the centre of the ring, where D's bowl is flat.
    "ring8": (
        "8 Gaussians on a ring with WGAN-GP (2 critic steps, an EMA of G): converged in seconds.",
        {
            "data.dataset": "ring8",
            "loss.kind": "wgan-gp",
            "loss.gp_weight": 1.0,
            "optim.d_steps": 2,
            "optim.lr_g": 2e-3,
            "optim.lr_d": 2e-3,
            "optim.beta1": 0.5,
            "optim.beta2": 0.9,
            "model.width": 64,
            "model.latent_dim": 8,
            "train.batch_size": 256,
            "train.ema": 0.99,
            "train.steps": 2000,
            "log.sample_every": 50,
            "metrics.every": 200,
        },
    ),
    # D learns 6x faster than G: where D is sure, the saturating loss leaves G almost no gradient, so
    # G settles on the few modes where D is fooled: at 3,000 steps (one thread) seeds 0-8 covered
    # 3, 2, 1, 3, 4, 3, 7, 4, 3 of the 8. With equal rates (1e-3 each) seeds 0-2 ended with 8, 2, 8.
    "ring8-minimax": (
        "The ring with the original saturating loss and a discriminator learning 6x faster than G: "
        "watch G drop modes and settle on a few of the 8.",
        {
            "data.dataset": "ring8",
            "loss.kind": "minimax",
            "model.latent_dim": 8,
            "optim.lr_g": 2.5e-4,
            "optim.lr_d": 1.5e-3,
            "train.batch_size": 256,
            "train.steps": 3000,
            "log.sample_every": 100,
            "metrics.every": 200,
        },
    ),
    # The same game kept together by R1 (gamma 0.1): D stays flat on the data, so G is not pushed
    # past a mode it has found and keeps spreading to the rest. Seeds 0-2 at 3,000 steps (one
    # thread): 8, 8, 8 modes covered, against 3, 2, 1 without R1; all 8 by step 1,000 on two of
    # them. R1's double backward costs about a quarter more time a step here (1,000 steps: 5 s, 4 s).
    "ring8-minimax-r1": (
        "ring8-minimax with an R1 penalty on D (loss.r1 = 0.1): the same saturating GAN keeps "
        "all 8 modes. Set loss.r1 to 0 mid-run to watch them go.",
        {
            "data.dataset": "ring8",
            "loss.kind": "minimax",
            "loss.r1": 0.1,
            "model.latent_dim": 8,
            "optim.lr_g": 2.5e-4,
            "optim.lr_d": 1.5e-3,
            "train.batch_size": 256,
            "train.steps": 3000,
            "log.sample_every": 100,
            "metrics.every": 200,
        },
    ),
    "grid25": (
        "25 Gaussians on a 5x5 grid with R3GAN's recipe (relativistic loss, R1 and R2): "
        "converged in seconds.",
        {
            "data.dataset": "grid25",
            **_TOY,
        },
    ),
    "spiral": (
        "25 Gaussians along a spiral with R3GAN's recipe (relativistic loss, R1 and R2): "
        "converged in seconds.",
        {
            "data.dataset": "spiral",
            **_TOY,
        },
    ),
    "mnist-dcgan": (
        "DCGAN on MNIST 28x28 (needs the MNIST files in data.root, or a network to fetch them).",
        {"data.dataset": "mnist", "model.arch": "dcgan", "train.steps": 10000},
    ),
    "cifar10-dcgan": (
        "DCGAN on CIFAR-10 32x32 (needs the CIFAR-10 files in data.root, or a network).",
        {"data.dataset": "cifar10", "model.arch": "dcgan", "train.steps": 20000},
    ),
    # R3GAN's recipe (Huang et al. 2024) at a GPU-sized width: the relativistic pairing loss kept
    # well-behaved by R1 and R2 together (their gamma for CIFAR-10 at the start of its schedule),
    # Adam without momentum, and a residual network with no normalisation (their model is 768 wide).
    "cifar10-r3gan": (
        "R3GAN's modern baseline on CIFAR-10 32x32: a residual G and D without normalisation, the "
        "relativistic pairing loss with R1 and R2 (needs the CIFAR-10 files in data.root, or a "
        "network; a GPU).",
        {
            "data.dataset": "cifar10",
            "model.arch": "resnet",
            "model.width": 256,
            "loss.kind": "rpgan",
            "loss.r1": 0.05,
            "loss.r2": 0.05,
            "optim.beta1": 0.0,
            "optim.beta2": 0.9,
            "train.batch_size": 128,
            "train.ema": 0.999,
            "train.steps": 50000,
        },
    ),
    # DiffAugment's setting: a few hundred images, where D alone memorises them within a few thousand
    # steps (the Overfitting tab's accuracies part) and G's samples then degrade. Every image D sees,
    # real or fake, is recoloured, shifted and cut out, so it cannot learn the training set by heart.
    "folder-small-augment": (
        "DCGAN on a few hundred images of your own (set data.root to their folder) at 32x32, with "
        "DiffAugment (colour, translation, cutout) on every image D sees, real and fake.",
        {
            "data.dataset": "folder",
            "data.root": "my-images",
            "data.image_size": 32,
            "data.augment": "color,translation,cutout",
            "data.augment_p": "1",
            "model.arch": "dcgan",
            "train.batch_size": 32,
            "train.steps": 10000,
            "log.sample_every": 200,
        },
    ),
}

NAMES = tuple(_PRESETS)


def describe(name: str) -> str:
    return _PRESETS[name][0]


def get(name: str) -> Config:
    """The preset's config; unknown names raise KeyError with the known ones."""
    if name not in _PRESETS:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(NAMES)}")
    return validate(with_values(Config(), _PRESETS[name][1]))
