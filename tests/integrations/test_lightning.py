"""GanStudioLogger: Fabric's and the Trainer's logging reach a run folder the app follows, and the
app's pause, live lr edits and stop reach the loop (GanStudioSteering for the Trainer), on one
process and on two (Fabric under torchrun, Gloo)."""

from __future__ import annotations

import time

import lightning as L
import torch

from ganstudio.core.run.log import read_run
from ganstudio.integrations.lightning import GanStudioLogger, GanStudioSteering

from .conftest import App, ended, example, run_folder, torchrun


def test_the_fabric_example_writes_a_run_the_app_reads(tmp_path):
    example("lightning_gan").main(["--steps", "40", "--out", str(tmp_path)])
    state = read_run(run_folder(tmp_path))
    assert state.status == "finished" and state.step == 40
    assert state.history.steps().tolist()[-1] == 40 and len(state.history.steps()) >= 4
    assert {"loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d"} <= set(state.history.keys)
    assert state.config.train.steps == 40 and state.latest_samples.step == 40
    assert run_folder(tmp_path).meta()["loop"]["values"] == {"batch_per_process": 64, "latent": 32}


def test_the_trainer_example_writes_a_run_with_the_module_s_hyperparameters(tmp_path):
    example("lightning_gan").main(["--trainer", "--steps", "30", "--out", str(tmp_path)])
    folder = run_folder(tmp_path)
    state = read_run(folder)
    assert state.status == "finished" and {"loss_d", "loss_g", "lr_g", "lr_d"} <= set(state.history.keys)
    assert folder.meta()["loop"]["values"] == {"batch": 64, "lr": 2e-4}  # save_hyperparameters()


def test_fabric_pause_edit_and_stop_reach_the_loop(tmp_path):
    logger = GanStudioLogger(out=tmp_path, name="fabric")
    fabric = L.Fabric(accelerator="cpu", devices=1, loggers=[logger])
    G, D = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    G, opt_g = fabric.setup(G, opt_g)
    D, opt_d = fabric.setup(D, opt_d)
    logger.watch(g_optimizer=opt_g, d_optimizer=opt_d)
    app = App(tmp_path, step_of=lambda: logger.experiment.step)
    step, end = 0, time.monotonic() + 60
    while time.monotonic() < end:
        step += 1
        fabric.log_dict({"loss_d": D(G(torch.randn(8, 2))).mean().item(), "loss_g": 0.7}, step=step)
        time.sleep(0.001)
        if not logger.tick(step):
            break
    logger.finalize("success")
    app.check()
    assert opt_g.param_groups[0]["lr"] == 1e-3 and opt_d.param_groups[0]["lr"] == 5e-4
    state = read_run(run_folder(tmp_path))
    assert state.status == "stopped" and state.step == step


class Slow(L.LightningModule):
    """Two optimizers, manual optimization (Lightning's GAN example's shape), a few ms a batch."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.G, self.D = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
        self.lrs: list[float] = []

    def training_step(self, batch, batch_idx):
        opt_g, opt_d = self.optimizers()
        for opt, net in ((opt_d, self.D), (opt_g, self.G)):
            opt.zero_grad()
            self.manual_backward(net(batch[0][:, : net.in_features]).pow(2).mean())
            opt.step()
        self.lrs.append(opt_g.param_groups[0]["lr"])
        self.log("loss_d", 0.7)
        time.sleep(0.002)

    def configure_optimizers(self):
        return [
            torch.optim.Adam(self.G.parameters(), lr=2e-4),
            torch.optim.Adam(self.D.parameters(), lr=2e-4),
        ]

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 2)), batch_size=4)


def test_the_trainer_callback_pauses_between_batches_edits_lr_and_stop_ends_fit(tmp_path):
    logger = GanStudioLogger(out=tmp_path, name="trainer")
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=100_000,
        logger=logger,
        callbacks=[GanStudioSteering()],
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    model = Slow()
    app = App(tmp_path, step_of=lambda: len(model.lrs))
    trainer.fit(model)
    app.check()
    assert model.lrs[-1] == 1e-3 and trainer.optimizers[1].param_groups[0]["lr"] == 5e-4
    assert trainer.global_step < 100_000  # Stop ended fit
    state = read_run(run_folder(tmp_path))
    assert state.status == "stopped" and state.history.series("lr_g")[-1] == 1e-3


def test_two_fabric_processes_pause_together_and_the_edit_reaches_both_optimizers(tmp_path):
    proc = torchrun("lightning_gan.py", "--devices", "2", "--steps", "100000", "--out", str(tmp_path))
    app = App(tmp_path)
    ranks = ended(proc)
    app.check()
    assert set(ranks) == {0, 1} and ranks[0] == ranks[1]  # the same step, the same rates
    assert ranks[0].endswith("lr_g 0.001 lr_d 0.0005")
    state = read_run(run_folder(tmp_path))
    assert state.status == "stopped" and f"ended at step {state.step}," in ranks[0]


def test_two_trainer_processes_pause_together_and_the_edit_reaches_both_optimizers(tmp_path):
    args = ("--trainer", "--devices", "2", "--steps", "100000", "--out", str(tmp_path))
    proc = torchrun("lightning_gan.py", *args)
    app = App(tmp_path)
    ranks = ended(proc)
    app.check()
    assert set(ranks) == {0, 1} and ranks[0] == ranks[1]  # Stop ended fit at the same batch on both
    assert ranks[0].endswith("lr_g 0.001 lr_d 0.0005")
    assert read_run(run_folder(tmp_path)).status == "stopped"
