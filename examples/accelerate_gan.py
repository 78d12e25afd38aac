"""A GAN trained with Hugging Face Accelerate (the huggan scripts' shape), in GAN Studio's window:
the lines marked `# GAN Studio` are all it takes. A small fully connected GAN on scikit-learn's 8x8
digits, so it runs offline in seconds, on one process or several:

    python examples/accelerate_gan.py --steps 3000                      # prints its run folder
    torchrun --nproc_per_node=2 examples/accelerate_gan.py --cpu --steps 3000
    accelerate launch --multi_gpu --num_processes 2 examples/accelerate_gan.py --steps 3000
    ganstudio --run runs/<that folder>                                  # or File › Open Run…

Rank 0 writes the run folder; Pause blocks every rank, a new optim.lr_g reaches every rank's
optimizer at the same step, Save calls `accelerator.save_state` on every rank, Stop ends them all.
Needs the extra: pip install "ganstudio[accelerate]".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from accelerate import Accelerator
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ganstudio.integrations.accelerate import GanStudioTracker

LATENT = 32


def make_models() -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(nn.Linear(LATENT, 128), nn.LeakyReLU(0.2), nn.Linear(128, 64), nn.Tanh())
    D = nn.Sequential(nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))
    return G, D


def digits() -> TensorDataset:
    """The 1,797 digits as (N, 64) in [-1, 1] (pixel values are 0..16)."""
    return TensorDataset(torch.tensor(load_digits().data / 8.0 - 1.0, dtype=torch.float32))


def forever(loader: DataLoader):
    while True:
        yield from loader


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch", type=int, default=64, help="per process")
    p.add_argument("--out", default="runs", help="the folder that holds the run folders")
    p.add_argument("--name", default="accelerate-gan")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is there")
    args = p.parse_args(argv)

    tracker = GanStudioTracker(  # GAN Studio
        out=args.out, name=args.name, config={"train.steps": args.steps, "data.dataset": "digits"}
    )
    accelerator = Accelerator(cpu=args.cpu, log_with=tracker)
    accelerator.init_trackers(args.name, config={"latent": LATENT, "batch_per_process": args.batch})
    torch.manual_seed(0)
    G, D = make_models()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(digits(), batch_size=args.batch, shuffle=True, drop_last=True)
    G, D, opt_g, opt_d, loader = accelerator.prepare(G, D, opt_g, opt_d, loader)
    tracker.watch(g_optimizer=opt_g, d_optimizer=opt_d)  # GAN Studio: live lr edits, every rank

    def save(step: int) -> Path:  # what Save in the app calls, on every rank at once
        path = Path(args.out) / f"{args.name}-saves" / f"step-{step}"
        accelerator.save_state(str(path))
        return path

    tracker.on_save(save)  # GAN Studio
    if accelerator.is_main_process:
        print(f"run folder: {tracker.run_dir}", flush=True)

    bce = nn.functional.binary_cross_entropy_with_logits
    fixed = torch.randn(64, LATENT, device=accelerator.device)
    batches = forever(loader)
    for step in range(1, args.steps + 1):
        (real,) = next(batches)
        b = real.size(0)
        ones = torch.ones(b, 1, device=real.device)
        fake = G(torch.randn(b, LATENT, device=real.device))
        # D on real, then on fake, each with its own backward (as PyTorch's DCGAN example does)
        opt_d.zero_grad()
        d_real = D(real)
        loss_real = bce(d_real, ones)
        accelerator.backward(loss_real)
        d_fake = D(fake.detach())
        loss_fake = bce(d_fake, torch.zeros_like(ones))
        accelerator.backward(loss_fake)
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(D(fake), ones)
        accelerator.backward(loss_g)
        opt_g.step()

        accelerator.log(  # rank 0 writes; tensors are read once per GAN Studio log interval
            {
                "loss_d": (loss_real + loss_fake).detach(),
                "loss_g": loss_g.detach(),
                "d_real": torch.sigmoid(d_real).mean().detach(),
                "d_fake": torch.sigmoid(d_fake).mean().detach(),
            },
            step=step,
        )
        if step % 250 == 0 or step == args.steps:
            with torch.no_grad():
                tracker.log_images({"samples": G(fixed).view(-1, 1, 8, 8)}, step=step)  # GAN Studio
        if not tracker.tick(step):  # GAN Studio, on every rank: edits, Save; blocks while paused
            break
    lrs = f"lr_g {opt_g.param_groups[0]['lr']:g} lr_d {opt_d.param_groups[0]['lr']:g}"
    print(f"rank {accelerator.process_index}: ended at step {step}, {lrs}", flush=True)
    accelerator.end_training()


if __name__ == "__main__":
    main()
