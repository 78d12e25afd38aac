"""A trainer as a checkpoint and back: `state_of(trainer)` is the dict a checkpoint holds (see
core/checkpoint/io.py), `from_checkpoint` builds a trainer in the exact state one recorded, every
part checked against the fresh trainer before anything is loaded (core/checkpoint/checks.py)."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.checkpoint.checks import check_holdout, check_state, for_optimizer
from ganstudio.core.checkpoint.io import CheckpointError
from ganstudio.core.config import FORK_KEYS, RESUMABLE_KEYS, Config, ConfigError, live_update, to_dict
from ganstudio.core.config.arch import is_user
from ganstudio.core.config.notify import without_secret
from ganstudio.core.data import Dataset
from ganstudio.core.models import provenance
from ganstudio.core.models.user import LoadedModel, ModelCodeError, ModelRef
from ganstudio.core.run.history import History
from ganstudio.core.train import oom

if TYPE_CHECKING:
    from ganstudio.core.train.distributed import Collective
    from ganstudio.core.train.trainer import Trainer


def state_of(t: Trainer) -> dict[str, Any]:
    """The whole training state as a checkpoint dict: tensors on the CPU, plain values, nothing
    pickled (it loads with weights_only=True)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    # Your own model: which file built it, and its hash (resume, fork and sample check them).
    code = {provenance.RECORD_KEY: t.model_ref.as_dict()} if t.model_ref is not None else {}
    return {
        "format": checkpoints.FORMAT,
        "version": checkpoints.VERSION,
        "config": to_dict(without_secret(t.cfg)),  # a webhook URL's token stays out
        "step": t.step,
        "epoch": float(t.sampler.epoch),
        "wall": float(t.wall),
        # On the CPU, whatever the device: the file, and so its digest, is device independent.
        "models": checkpoints.on_cpu(
            {
                "G": t.G.state_dict(),
                "D": t.D.state_dict(),
                "G_ema": t.G_ema.state_dict() if t.G_ema is not None else {},
            }
        ),
        "optimizers": checkpoints.on_cpu({"G": t.opt_g.state_dict(), "D": t.opt_d.state_dict()}),
        "sampler": t.sampler.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "noise": t.noise_gen.get_state(),
            "noise_device": t.device.type,
            "numpy": {
                "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                "pos": int(np_state[2]),
                "has_gauss": int(np_state[3]),
                "cached_gaussian": float(np_state[4]),
            },
            "python": [py_state[0], list(py_state[1]), py_state[2]],
        },
        "fixed_noise": t.fixed_noise,
        "stats_accumulator": {
            "sum": t._acc.cpu(),
            "count": t._acc_n,
            "wall": t._acc_wall,
        },
        "history": _history_state(t.history),
        # The run's alerts, pauses, changes and checkpoints, replayed on load (RunState.restore).
        "events": t.state.log_records(),
        "world_size": t.world_size,
        # The images held out from training (data.holdout), so a resumed run holds out the same.
        "holdout": t.holdout_index.clone(),
        # data.augment_p = "auto": the chance ADA's rule has reached (augment.py).
        "augment": t.augment.state_dict(),
        **code,
    }


def _history_state(history: History) -> dict[str, Any]:
    """History.state_dict with each column a 1-D tensor, as checkpoints store it."""

    def column(values: np.ndarray) -> torch.Tensor:
        # an empty array's tensor gets stride 0, which no byte view (the digest's) accepts
        return (
            torch.from_numpy(values) if len(values) else torch.zeros(0, dtype=torch.from_numpy(values).dtype)
        )

    state = history.state_dict()
    for key in ("step", "wall", "epoch"):
        state[key] = column(state[key])
    state["values"] = {k: column(v) for k, v in state["values"].items()}
    return state


def from_checkpoint(
    cls: type[Trainer],
    source: str | Path | dict[str, Any],
    *,
    config: Config | None = None,
    dataset: Dataset | None = None,
    device: torch.device | str | None = None,
    checkpoint_dir: str | Path | None = None,
    fork: bool = False,
    collective: Collective | None = None,
    name: str = "",
    model: LoadedModel | ModelRef | None = None,
) -> Trainer:
    """A new `cls` (a Trainer) in the exact state a checkpoint recorded.

    Everything is loaded into fresh objects and checked first; on any problem a CheckpointError
    is raised and nothing that already exists (a running trainer, its files) is touched.
    `config` may change live-editable keys and train.steps (e.g. to train longer); for a `fork`,
    also train.seed, which reseeds the training noise from the checkpoint's step on.

    A checkpoint of your own model (model.arch = FILE.py:FUNCTION) needs `model`, the file to build
    it with: importing runs code, so the caller decides which (`provenance.for_checkpoint`: the
    recorded file when its hash matches, or one the user names); without it, ModelCodeError.
    """
    ckpt = checkpoints.load(source) if not isinstance(source, dict) else checkpoints.check(source)
    name = name or (source if not isinstance(source, dict) else "checkpoint")
    saved_cfg = checkpoints.config_of(ckpt)
    if model is None and is_user(saved_cfg.model.arch):
        check = provenance.check_checkpoint(ckpt, None if isinstance(source, dict) else source)
        raise ModelCodeError(
            f"{name} was trained with your own model, {check.path} (SHA-256 "
            f"{check.recorded.sha256[:12]}…): importing it runs its code, so say which file to use "
            "(model=..., e.g. ganstudio.core.models.provenance.for_checkpoint)"
        )
    cfg = saved_cfg
    if config is not None:
        try:
            cfg, _ = live_update(
                saved_cfg,
                config,
                allowed=FORK_KEYS if fork else RESUMABLE_KEYS,
                why="fork" if fork else "resume",
            )
        except ConfigError as e:
            raise CheckpointError(f"{name}: " + "; ".join(e.problems)) from None
    try:
        # Built with the checkpoint's seed: the data (the 2D toys' points) and the sampler's
        # order are the parent's; a fork's new seed applies to the noise from here on.
        t = cls(
            _with_seed(cfg, saved_cfg.train.seed),
            dataset=dataset,
            device=device,
            checkpoint_dir=checkpoint_dir,
            collective=collective,
            model=model,
        )
        with oom.reported(cfg, t.device, "while loading the checkpoint"):
            t._load_state(ckpt)
        if cfg.train.seed != saved_cfg.train.seed:
            t.cfg = t.health.cfg = cfg
            t.state.config = cfg
            t.noise_gen.manual_seed(cfg.train.seed + 1)
    except ModelCodeError:
        raise
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as e:
        # load_state_dict puts the mismatches on the lines after its first: keep them all.
        detail = " ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
        raise CheckpointError(
            f"{name} does not match its config (was it edited or made by another program?): {detail[:600]}"
        ) from None
    return t


def load_into(t: Trainer, ck: dict[str, Any]) -> None:
    """Put checkpoint `ck`'s state into fresh trainer `t`, every part checked first."""
    # Every state is checked before any is loaded: torch's loaders would take an Adam state of
    # other shapes (the fused kernel then crashes), and the random streams are the process's.
    # The held-out images first: the sampler's state is over the others. A checkpoint from before
    # there was a holdout trained on every image, and goes on doing so.
    t._set_holdout(check_holdout(ck.get("holdout"), len(t.data)))
    t.sampler.n = t.x.shape[0]
    check_state(ck, t)
    t.G.load_state_dict(ck["models"]["G"])
    t.D.load_state_dict(ck["models"]["D"])
    if ck["models"].get("G_ema"):
        if t.G_ema is None:
            t._make_ema()
        t.G_ema.load_state_dict(ck["models"]["G_ema"])
    t.opt_g.load_state_dict(for_optimizer(ck["optimizers"]["G"], t.opt_g))
    t.opt_d.load_state_dict(for_optimizer(ck["optimizers"]["D"], t.opt_d))
    o = t.cfg.optim
    for opt, lr in ((t.opt_g, o.lr_g), (t.opt_d, o.lr_d)):
        for group in opt.param_groups:
            group["lr"], group["betas"] = lr, (o.beta1, o.beta2)
    t.sampler.load_state_dict(ck["sampler"])
    t.fixed_noise = ck["fixed_noise"].float()
    rng = ck["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if rng.get("noise_device") == t.device.type:  # another device's generator state won't fit
        t.noise_gen.set_state(rng["noise"])
    n = rng["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = rng["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    acc = ck["stats_accumulator"]
    t._acc = acc["sum"].to(t.device)
    t._acc_n = int(acc["count"])
    t._acc_wall = float(acc["wall"])
    t.state.restore(History.from_state_dict(ck["history"]), ck.get("events"))
    t.augment.load_state_dict(ck.get("augment"))
    t.checkpoint_verified = bool(ck.get("verified", True))
    t.step = int(ck["step"])
    t.wall = float(ck["wall"])


def _with_seed(cfg: Config, seed: int) -> Config:
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
