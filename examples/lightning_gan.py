"""A GAN trained with Lightning, in GAN Studio's window: with Fabric (the shape of Lightning's
DCGAN example) or with the Trainer (a LightningModule with manual optimization, as Lightning's GAN
example). The lines marked `# GAN Studio` are all it takes. A small fully connected GAN on
scikit-learn's 8x8 digits, so it runs offline in seconds, on one process or several:

    python examples/lightning_gan.py --steps 3000                        # Fabric; prints its run folder
    python examples/lightning_gan.py --trainer --steps 3000              # the Trainer
    torchrun --nproc_per_node=2 examples/lightning_gan.py --devices 2 --steps 3000
    ganstudio --run runs/<that folder>                                   # or File › Open Run…

Rank 0 writes the run folder; Pause blocks every rank between steps, a new optim.lr_g reaches every
rank's optimizer at the same step, Save writes a checkpoint, Stop ends them all.
Needs the extra: pip install "ganstudio[lightning]".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning as L
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ganstudio.integrations.lightning import GanStudioLogger, GanStudioSteering

LATENT = 32
bce = nn.functional.binary_cross_entropy_with_logits


def make_models() -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(nn.Linear(LATENT, 128), nn.LeakyReLU(0.2), nn.Linear(128, 64), nn.Tanh())
    D = nn.Sequential(nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))
    return G, D


def digits(batch: int) -> DataLoader:
    """The 1,797 digits as (N, 64) in [-1, 1] (pixel values are 0..16)."""
    data = TensorDataset(torch.tensor(load_digits().data / 8.0 - 1.0, dtype=torch.float32))
    return DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)


def step_d(D, fake, real, backward) -> tuple[torch.Tensor, ...]:
    """D on real, then on fake, each with its own backward (as the DCGAN examples do)."""
    d_real = D(real)
    loss_real = bce(d_real, torch.ones_like(d_real))
    backward(loss_real)
    d_fake = D(fake.detach())
    loss_fake = bce(d_fake, torch.zeros_like(d_fake))
    backward(loss_fake)
    return (
        (loss_real + loss_fake).detach(),
        torch.sigmoid(d_real).mean().detach(),
        torch.sigmoid(d_fake).mean().detach(),
    )


def fabric_main(args: argparse.Namespace) -> None:
    logger = GanStudioLogger(out=args.out, name=args.name, config={"train.steps": args.steps})  # GAN Studio
    fabric = L.Fabric(accelerator="cpu", devices=args.devices, loggers=[logger])
    fabric.launch()
    fabric.seed_everything(0)
    fabric.logger.log_hyperparams({"latent": LATENT, "batch_per_process": args.batch})
    loader = fabric.setup_dataloaders(digits(args.batch))
    G, D = make_models()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    D, opt_d = fabric.setup(D, opt_d)
    G, opt_g = fabric.setup(G, opt_g)
    logger.watch(g_optimizer=opt_g, d_optimizer=opt_d)  # GAN Studio: live lr edits, every rank
    saves = Path(args.out) / f"{args.name}-saves"
    logger.on_save(lambda step: fabric.save(saves / f"step-{step}.ckpt", {"G": G, "D": D}))  # GAN Studio
    if fabric.is_global_zero:
        print(f"run folder: {logger.log_dir}", flush=True)

    fixed = torch.randn(64, LATENT, device=fabric.device)
    batches = forever(loader)
    for step in range(1, args.steps + 1):
        (real,) = next(batches)
        fake = G(torch.randn(real.size(0), LATENT, device=fabric.device))
        opt_d.zero_grad()
        loss_d, d_real, d_fake = step_d(D, fake, real, fabric.backward)
        opt_d.step()
        opt_g.zero_grad()
        out = D(fake)
        loss_g = bce(out, torch.ones_like(out))
        fabric.backward(loss_g)
        opt_g.step()
        fabric.log_dict({"loss_d": loss_d, "loss_g": loss_g, "d_real": d_real, "d_fake": d_fake}, step=step)
        if step % 250 == 0 or step == args.steps:
            with torch.no_grad():
                logger.log_images(G(fixed).view(-1, 1, 8, 8), step=step)  # GAN Studio
        if not logger.tick(step):  # GAN Studio, on every rank: edits, Save; blocks while paused
            break
    lrs = f"lr_g {opt_g.param_groups[0]['lr']:g} lr_d {opt_d.param_groups[0]['lr']:g}"
    print(f"rank {fabric.global_rank}: ended at step {step}, {lrs}", flush=True)
    logger.finalize("success")


def forever(loader: DataLoader):
    while True:
        yield from loader


class DigitsGAN(L.LightningModule):
    """Lightning's GAN example's shape: two optimizers, manual optimization."""

    def __init__(self, lr: float = 2e-4, batch: int = 64):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.G, self.D = make_models()

    def training_step(self, batch, batch_idx):
        (real,) = batch
        opt_g, opt_d = self.optimizers()
        fake = self.G(torch.randn(real.size(0), LATENT, device=self.device))
        opt_d.zero_grad()
        loss_d, d_real, d_fake = step_d(self.D, fake, real, self.manual_backward)
        opt_d.step()
        opt_g.zero_grad()
        out = self.D(fake)
        loss_g = bce(out, torch.ones_like(out))
        self.manual_backward(loss_g)
        opt_g.step()
        self.log_dict({"loss_d": loss_d, "loss_g": loss_g.detach(), "d_real": d_real, "d_fake": d_fake})

    def configure_optimizers(self):
        lr = self.hparams.lr
        opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=(0.5, 0.999))
        return [opt_g, opt_d]  # G's first: GanStudioSteering's default

    def train_dataloader(self):
        return digits(self.hparams.batch)


def trainer_main(args: argparse.Namespace) -> None:
    logger = GanStudioLogger(out=args.out, name=args.name, config={"train.steps": args.steps})  # GAN Studio
    trainer = L.Trainer(
        accelerator="cpu",
        devices=args.devices,
        # D's backward leaves G's parameters unused (and G's step D's): DDP must be told
        strategy="ddp_find_unused_parameters_true" if args.devices > 1 else "auto",
        max_steps=2 * args.steps,  # Lightning counts each optimizer's steps: two a batch
        logger=logger,
        callbacks=[GanStudioSteering()],  # GAN Studio: pause, stop, live lr, save
        log_every_n_steps=10,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    model = DigitsGAN(batch=args.batch)
    trainer.fit(model)
    opt_g, opt_d = trainer.optimizers
    lrs = f"lr_g {opt_g.param_groups[0]['lr']:g} lr_d {opt_d.param_groups[0]['lr']:g}"
    print(f"rank {trainer.global_rank}: ended at step {trainer.global_step // 2}, {lrs}", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch", type=int, default=64, help="per process")
    p.add_argument("--devices", type=int, default=1, help="processes (CPU, Gloo)")
    p.add_argument("--trainer", action="store_true", help="the Trainer instead of Fabric")
    p.add_argument("--out", default="runs", help="the folder that holds the run folders")
    p.add_argument("--name", default="lightning-gan")
    args = p.parse_args(argv)
    (trainer_main if args.trainer else fabric_main)(args)


if __name__ == "__main__":
    main()
