"""The classic GAN tutorial loop, in GAN Studio's window: the lines marked `# GAN Studio` are all
it takes (the rest is the loop every GAN tutorial writes: a fully connected G and D, Adam 2e-4 with
beta1 0.5, batch 64, the non-saturating loss), here on scikit-learn's 8x8 handwritten digits, so it
runs offline in seconds.

    python examples/tutorial_loop.py --steps 3000        # prints its run folder
    ganstudio --run runs/<that folder>                   # or File › Open Run… while it trains

The window follows it like its own run: the losses and D's outputs, the samples, health alerts;
Pause blocks the loop, a new optim.lr_g reaches its optimizer, Save calls `save` below, Stop ends
the loop.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn

import ganstudio

LATENT = 100


def make_models() -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(nn.Linear(LATENT, 256), nn.LeakyReLU(0.2), nn.Linear(256, 64), nn.Tanh())
    D = nn.Sequential(nn.Linear(64, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    return G, D


def load_data() -> torch.Tensor:
    """The 1,797 digits as (N, 64) in [-1, 1] (pixel values are 0..16)."""
    return torch.tensor(load_digits().data / 8.0 - 1.0, dtype=torch.float32)


def train_step(G, D, opt_g, opt_d, real: torch.Tensor) -> dict[str, torch.Tensor]:
    """One step of the tutorial: D on real and fake, then G (non-saturating)."""
    bce = nn.functional.binary_cross_entropy_with_logits
    b = real.size(0)
    ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
    fake = G(torch.randn(b, LATENT))

    d_real, d_fake = D(real), D(fake.detach())
    loss_d = bce(d_real, ones) + bce(d_fake, zeros)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()

    loss_g = bce(D(fake), ones)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return {
        "loss_d": loss_d.detach(),
        "loss_g": loss_g.detach(),
        "d_real": torch.sigmoid(d_real).mean().detach(),
        "d_fake": torch.sigmoid(d_fake).mean().detach(),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", default="runs", help="the folder that holds the run folders")
    p.add_argument("--name", default="tutorial-loop")
    args = p.parse_args(argv)

    torch.manual_seed(0)
    data = load_data()
    G, D = make_models()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    fixed_noise = torch.randn(64, LATENT)
    saves = Path(args.out) / f"{args.name}-saves"

    def save(step: int) -> Path:  # what Save in the app calls: this loop's own checkpoint
        saves.mkdir(parents=True, exist_ok=True)
        path = saves / f"step-{step}.pt"
        torch.save({"step": step, "G": G.state_dict(), "D": D.state_dict()}, path)
        return path

    run = ganstudio.init(  # GAN Studio
        out=args.out,
        name=args.name,
        config={"train.steps": args.steps, "train.batch_size": args.batch, "data.dataset": "digits"},
    )
    run.watch(g_optimizer=opt_g, d_optimizer=opt_d)  # GAN Studio: live lr edits reach these
    run.on_save(save)  # GAN Studio
    print(f"run folder: {run.folder.path if run.folder else '(none)'}", flush=True)

    with run:  # GAN Studio: finished, stopped or failed, as the loop ends
        for step in range(1, args.steps + 1):
            real = data[torch.randint(len(data), (args.batch,))]
            losses = train_step(G, D, opt_g, opt_d, real)
            run.log(step, **losses)  # GAN Studio: tensors, read once per flush
            if step % 250 == 0 or step == args.steps:
                with torch.no_grad():
                    run.log_images(step, G(fixed_noise).view(-1, 1, 8, 8))  # GAN Studio
            if not run.tick(step):  # GAN Studio: edits, Save; blocks while paused; False on Stop
                break
    print(f"stopped at step {run.step}" if run.step < args.steps else f"done: {args.steps} steps")


if __name__ == "__main__":
    main()
