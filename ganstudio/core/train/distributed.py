"""Data-parallel training on PyTorch's own engine (torch.distributed), under torchrun.

N processes train the same GAN as one process would, only faster:
- every rank walks the same global permutation of the data and takes its slice of each global
  batch (train.batch_size stays the global batch); each rank's noise is its slice of the global
  noise batch, drawn from the same generator on every rank, so the random streams, the data order
  and every checkpoint are those of one process whatever the world size;
- gradients are averaged with one all-reduce of the flattened gradients per optimizer step, as
  stylegan3's training loop does. Not DistributedDataParallel: DDP cannot take the double backward
  of WGAN-GP's gradient penalty, and a GAN step runs D forward twice (real and fake) and G through
  D with D's parameters frozen, which DDP's bucketing and unused-parameter tracking handle only with
  care; a flat all-reduce after each backward is simpler and as fast for these model sizes;
- BatchNorm statistics are the global batch's: torch's SyncBatchNorm on GPUs; on CPUs (where it
  refuses to run) GlobalBatchNorm below, which sums the same statistics with a differentiable
  all-reduce. Both keep BatchNorm's state_dict keys, so checkpoints are interchangeable;
- only rank 0 writes the run folder, checkpoints and samples and runs the quality metrics and the
  health checks; stats are averaged over the ranks with one all-reduce per log interval;
- requests (pause, step, stop, save, live edits, a signal on any rank) are agreed once per step by
  `AgreedControl` (core/run/control.py's requests protocol), so every rank acts at the same step.
  On CPUs (Gloo) the agreement rides on the step's last gradient all-reduce (a few more numbers in
  it, no collective of its own: a Gloo collective costs about a millisecond); a step that needs
  more (a request, a pause, a stop) runs a full agreement at the step boundary. On GPUs it is one
  small all-reduce on a Gloo group of its own, so it needs no host synchronisation with the GPU.

The trainer sees all of this as its collective: `Job` here, or `Local` for one process, whose every
collective does nothing. It calls the same methods on either, so it has no branch for torchrun.
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ganstudio.core.run.control import ACTIONS, REQUEST, RUN, STOP, Control, Requests, Taken
from ganstudio.core.train.schedule import World

# A pause can last for hours: collectives are kept short (the paused loop ticks every PAUSED_TICK_S)
# and the timeout is only for a peer that died without torchrun noticing.
TIMEOUT = datetime.timedelta(minutes=30)
PAUSED_TICK_S = 0.5


class DistributedSetupError(RuntimeError):
    """The job cannot start as torchrun launched it (the message says why and what to do)."""


def env_world_size() -> int:
    """The world size torchrun set (1 when not under torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


class Local:
    """One process training alone: the collective whose every operation does nothing. The trainer
    calls the same methods on it as on a job's (`Job`)."""

    world = World()
    world_size = 1
    backend = ""
    device: torch.device | None = None  # None: the config's train.device

    @property
    def main(self) -> bool:
        return True

    @property
    def hosts(self) -> list[str]:
        return [socket.gethostname()]

    def part(self, n: int) -> slice:
        return slice(None)

    def wrap(self, module: nn.Module) -> nn.Module:
        return module

    def average_gradients(self, module: nn.Module, last: bool = False) -> None:
        pass

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def agreed(self, control: Control, step: Any) -> Requests:
        return control

    def interval_stats(self, interval_s: float) -> dict[str, float]:
        return {}

    def heartbeat(self) -> dict[str, Any]:
        return {}

    def broadcast(self, obj: Any) -> Any:
        return obj

    def gather(self, obj: Any) -> list[Any]:
        return [obj]

    def all_ok(self, ok: bool) -> bool:
        return ok


@dataclass
class Job:
    """This process's place in a torchrun job, and the collectives training needs (see the module's
    doc): the same methods as `Local`, done with torch.distributed."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    control_group: Any  # a Gloo group: control agreement on CPU tensors, whatever the backend
    hosts: list[str]
    _agreed: AgreedControl | None = field(default=None, init=False, repr=False)  # while a run runs
    _agree_seen: float = field(default=0.0, init=False, repr=False)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def world(self) -> World:
        return World(self.rank, self.world_size)

    @property
    def agrees_on_gradients(self) -> bool:
        """Whether the step's agreement rides on its gradient all-reduce: on CPU tensors only
        (reading it back from a GPU would be a host synchronisation per step)."""
        return self.backend == "gloo"

    def part(self, n: int) -> slice:
        """This rank's rows of a global batch of n (n divides by the world size)."""
        per = n // self.world_size
        return slice(self.rank * per, (self.rank + 1) * per)

    def wrap(self, module: nn.Module) -> nn.Module:
        """`module` with its BatchNorm statistics over the global batch, as in one process."""
        return global_batchnorm(module, self.device)

    def average_gradients(self, module: nn.Module, last: bool = False) -> None:
        """Average `module`'s gradients over the ranks; the step's `last` all-reduce also carries the
        step's request agreement where it can (see AgreedControl)."""
        agreed = self._agreed if last and self.agrees_on_gradients else None
        summed = self._all_reduce_gradients(list(module.parameters()), agreed.early() if agreed else None)
        if agreed is not None:
            agreed.settle(summed)

    def _all_reduce_gradients(self, params: list[nn.Parameter], extra: list[float] | None) -> list[float]:
        """One all-reduce of all the gradients, flattened, averaged. `extra` numbers ride along
        (small whole numbers, exact in the gradients' dtype) and come back summed over the ranks."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return []
        parts = [g.reshape(-1) for g in grads]
        if extra:
            parts.append(torch.tensor(extra, dtype=grads[0].dtype, device=grads[0].device))
        flat = torch.cat(parts)
        dist.all_reduce(flat)
        summed = flat[flat.numel() - len(extra) :].tolist() if extra else []
        flat.div_(self.world_size)
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n
        return summed

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """`t` averaged over the ranks (in place)."""
        dist.all_reduce(t)
        return t.div_(self.world_size)

    def agreed(self, control: Control, step: Any) -> Requests:
        """The requests a run of this job consumes: `control`'s, agreed by every rank at each step
        (`step`: () -> the trainer's step)."""
        self._agreed = AgreedControl(control, self, step)
        self._agree_seen = 0.0
        return self._agreed

    def interval_stats(self, interval_s: float) -> dict[str, float]:
        """The stats a job adds to a log interval's: its per-step agreement's share of the time."""
        if self._agreed is None:
            return {}
        share = (self._agreed.agree_s - self._agree_seen) / interval_s
        self._agree_seen = self._agreed.agree_s
        return {"agree_share": share}

    def heartbeat(self) -> dict[str, Any]:
        """For the heartbeat of a job: every rank's step at the last agreement."""
        return {"rank_steps": self._agreed.last_steps} if self._agreed is not None else {}

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank (pickled: plain data between the job's own processes)."""
        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0, group=self.control_group)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order, on every rank (pickled, on the control group): for
        what a run learns once at its start, never per step."""
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self.control_group)
        return out

    def all_ok(self, ok: bool) -> bool:
        """Whether every rank is ok (each says for itself), on every rank."""
        t = torch.tensor([0 if ok else 1], dtype=torch.int64)
        dist.all_reduce(t, group=self.control_group)
        return int(t.item()) == 0


#: What trains a run: one process alone, or one process of a torchrun job.
Collective = Local | Job


def init_from_env(device_name: str = "auto") -> Job | None:
    """Join the job torchrun started (RANK, LOCAL_RANK, WORLD_SIZE in the environment): NCCL on
    cuda:LOCAL_RANK when training on CUDA, else Gloo on the CPU. None when not under torchrun."""
    world = env_world_size()
    if world <= 1:
        return None
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name != "cpu" and not device_name.startswith("mps")
    if use_cuda:
        gpus = torch.cuda.device_count()
        if local_rank >= gpus:
            raise DistributedSetupError(
                f"this is process {local_rank + 1} on this machine, which has {gpus} CUDA GPU(s): start "
                f"one process per GPU (torchrun --nproc_per_node={gpus}), or train on the CPUs "
                "(--set train.device=cpu)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device, timeout=TIMEOUT)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo", timeout=TIMEOUT)
        backend = "gloo"
    control = dist.new_group(backend="gloo", timeout=TIMEOUT) if backend != "gloo" else dist.group.WORLD
    hosts: list[Any] = [None] * world
    dist.all_gather_object(hosts, socket.gethostname(), group=control)
    return Job(rank, world, local_rank, backend, device, control, [str(h) for h in hosts])


def teardown(job: Job | None = None) -> None:
    """Leave the job: wait (briefly) until every rank is done with its collectives, then destroy
    the process group. Destroyed while a peer still used it, Gloo aborted a process now and then."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if job is not None:
        try:
            dist.monitored_barrier(group=job.control_group, timeout=datetime.timedelta(seconds=60))
        except Exception:  # a peer died: torchrun ends the job; nothing to wait for
            pass
    dist.destroy_process_group()


# ----- BatchNorm over the global batch, on CPUs -------------------------------------------------


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are the global batch's, over the ranks of a job.

    The per-channel sums of x and x^2 (in float64, so the variance loses nothing to cancellation)
    and the sample count are added up with one differentiable all-reduce; gradients flow back
    through it to every rank. Eval mode and a single process are plain BatchNorm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (
            self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        ):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        x64 = x.double()
        count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float64, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([x64.sum(dims), (x64 * x64).sum(dims), count]))
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.to(self.running_mean.dtype), alpha=m)
                unbiased = var * n / (n - 1).clamp_min(1.0)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        y = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var.to(x.dtype).view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")


class _AllReduceSum(torch.autograd.Function):
    """A sum over the ranks that gradients flow back through (the gradient of a sum is the sum of
    the gradients). torch.distributed.nn.functional.all_reduce is this, deprecated; the functional
    collectives that replace it left pending work behind at exit (an abort in 1 of 3 jobs here)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


def global_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """`module` with every BatchNorm computing global batch statistics (see the module's doc)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert(module)


def _convert(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        out = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        if module.affine:
            with torch.no_grad():
                out.weight.copy_(module.weight)
                out.bias.copy_(module.bias)
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, _convert(child))
    return out


# ----- requests, agreed once per step -----------------------------------------------------------

_CODE = {a: i + 1 for i, a in enumerate(ACTIONS)}


class AgreedControl:
    """The trainer's Control, agreed by every rank of a job at each step.

    Rank 0 holds the real Control (the app's requests through the control file, its own signal
    handlers); every rank holds one of these. At each step boundary the ranks all-reduce a few
    integers on the Gloo control group: rank 0's next action and whether it has requests to hand
    out, any rank's stop (a signal can reach any of them), and every rank's step, which must be
    equal (a check that costs nothing more). Edits and saves then go to every rank, so they apply
    at the same step everywhere. While paused, rank 0 ticks every PAUSED_TICK_S so no collective
    waits longer than that.

    On CPUs most steps need no collective of their own: during the step, `early()` gives the
    numbers that ride on its last gradient all-reduce (whether rank 0 needs a full agreement, any
    rank's stop, every rank's step) and `settle()` takes their sums. When nothing is asked and the
    steps agree, the next boundary is "run" on every rank at once; otherwise every rank runs the
    full agreement there. A request that lands after rank 0's `early()` is seen one step later:
    still within one step, and at the same step on every rank."""

    def __init__(self, control: Control, d: Job, step: Any):
        self.inner = control  # on rank 0 the real one; elsewhere it only takes local signals
        self.d = d
        self._step = step  # () -> the trainer's step
        self._paused = control.paused
        self._stopping = False
        self._save_on_stop = True
        self._has_requests = False
        self.agree_s = 0.0  # time spent agreeing (the benchmark's per-step cost)
        self.agreements = 0
        self.last_steps: list[int] = []  # every rank's step at the last agreement (the heartbeat's)
        self._run_next = False  # settled during the step: the next boundary is "run" everywhere
        self._lock = threading.Lock()

    # What the loop reads: the agreed state, the same on every rank.
    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def save_on_stop(self) -> bool:
        return self._save_on_stop

    def pause(self) -> None:
        """The trainer pausing itself (a NaN, seen by every rank at the same step)."""
        self._paused = True
        self._run_next = False  # what rode on this step's gradients predates the pause
        self.inner.pause()

    # The agreement on the step's gradients (CPU jobs): steps modulo 2**16 stay exact in float32.
    def early(self) -> list[float]:
        """This rank's numbers for the ride: [rank 0 needs a full agreement, this rank is stopping,
        then each rank's step (its own slot)]."""
        d, inner = self.d, self.inner
        busy = d.main and (inner.stopping or inner.paused or inner.has_requests())
        vec = [float(busy), float(inner.stopping)] + [0.0] * d.world_size
        vec[2 + d.rank] = float(int(self._step()) % 65536)
        return vec

    def settle(self, summed: list[float]) -> None:
        """The ride's sums, on every rank alike: whether the next boundary needs no agreement."""
        steps = summed[2:]
        self._run_next = summed[0] == 0 and summed[1] == 0 and len(set(steps)) == 1
        if self._run_next:
            self.last_steps = [int(self._step())] * self.d.world_size

    def wait(self, pause_reported: bool = True) -> str:
        if self._run_next:  # agreed on the step's gradients: nothing asked, every rank in step
            self._run_next = False
            return RUN
        d = self.d
        vec = torch.zeros(5 + d.world_size, dtype=torch.int64)
        if d.main:
            action = self.inner.wait(pause_reported, PAUSED_TICK_S)
            vec[0] = _CODE[action or REQUEST]
            vec[1] = int(self.inner.has_requests())
            vec[3] = int(self.inner.save_on_stop)
            vec[4] = int(self.inner.paused)
        vec[2] = int(self.inner.stopping)  # a signal may reach any rank
        vec[5 + d.rank] = int(self._step())
        t0 = time.perf_counter()
        dist.all_reduce(vec, group=d.control_group)
        self.agree_s += time.perf_counter() - t0
        self.agreements += 1
        steps = vec[5:].tolist()
        self.last_steps = steps
        if len(set(steps)) > 1:
            raise RuntimeError(f"the ranks are at different steps {steps}; the job cannot go on together")
        action = ACTIONS[int(vec[0]) - 1]
        self._has_requests = bool(vec[1])
        self._paused = bool(vec[4])
        if vec[2] and action != STOP:  # another rank was asked to stop: everyone stops, saving
            action = STOP
            if d.main:
                self.inner.stop(save=True)
        if action == STOP:
            self._stopping = True
            self._save_on_stop = bool(vec[3]) or bool(vec[2])
        return action

    def take(self) -> Taken:
        """Rank 0's posted events (its own), and the agreed edits and saves, the same on every rank."""
        posted = self.inner.take_posted() if self.d.main else []
        if not self._has_requests:
            return Taken([], [], posted)
        self._has_requests = False
        requests = self.inner.take_requests() if self.d.main else None
        edits, saves = self.d.broadcast(requests)
        return Taken(edits, saves, posted)
