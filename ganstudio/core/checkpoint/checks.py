"""Every state in a checkpoint checked against a freshly built trainer, before any is loaded.

torch's loaders check little. Optimizer.load_state_dict matches only the number of parameters, so
the Adam state of a model of other widths loads, and the fused kernel then writes past its buffers
(SIGSEGV); a sampler permutation with an index out of range faults on a GPU; a wrong-sized RNG
state or a history series of the wrong length fails somewhere later. Each check here raises a
CheckpointError naming the part that does not fit and how; Trainer.from_checkpoint adds the file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ganstudio.core.checkpoint.io import CheckpointError

if TYPE_CHECKING:
    from ganstudio.core.train.batches import Sampler
    from ganstudio.core.train.trainer import Trainer

ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")
# Adam settings GAN Studio never changes: a checkpoint must have the fresh optimizer's values.
FIXED_GROUP_KEYS = ("eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")
# How this machine runs the update, not what it computes: the fresh optimizer's are used on load.
IMPLEMENTATION_KEYS = ("foreach", "fused", "capturable", "differentiable")
PY_RANDOM_VERSION = 3  # random.getstate()[0] since Python 3.2
MT_WORDS = 624  # Mersenne Twister state words (Python's random and numpy's legacy RandomState)


def check_state(ck: dict[str, Any], t: Trainer) -> None:
    """Check everything in checkpoint `ck` against fresh trainer `t`; raises CheckpointError."""
    step = ck["step"]
    models = ck["models"]
    check_module_state(models["G"], t.G, "models.G")
    check_module_state(models["D"], t.D, "models.D")
    ema = models.get("G_ema", {})
    if not isinstance(ema, dict):
        raise CheckpointError(f"models.G_ema is a {type(ema).__name__}, not a state dict")
    if ema:
        check_module_state(ema, t.G, "models.G_ema")
    g_step = check_optimizer(ck["optimizers"]["G"], t.opt_g, t.G, "optimizers.G")
    d_step = check_optimizer(ck["optimizers"]["D"], t.opt_d, t.D, "optimizers.D")
    # G is updated once a step, D optim.d_steps >= 1 times.
    if not _counts(g_step, step):
        raise CheckpointError(
            f"optimizers.G has made {_fmt(g_step)} updates, but the checkpoint is at "
            f"step {step} and G is updated once a step"
        )
    if g_step is not None and (
        d_step is None or (_exact(g_step) and _exact(d_step) and d_step.value < g_step.value)
    ):
        raise CheckpointError(
            f"optimizers.D has made {_fmt(d_step)} updates, fewer than G's "
            f"{_fmt(g_step)}; D is updated at least once a step"
        )
    check_sampler(ck["sampler"], t.sampler, epoch=ck["epoch"])
    check_rng(ck["rng"], t)
    _tensor_like(ck["fixed_noise"], t.fixed_noise, "fixed noise", "this config's")
    check_accumulator(ck["stats_accumulator"], t._acc, step, ck["wall"])
    check_history(ck["history"], step)
    check_events(ck.get("events"))
    world = ck.get("world_size", 1)
    if type(world) is not int or world < 1:
        raise CheckpointError(f"world_size is {world!r}; it must be a whole number >= 1")


# ----- models and optimizers ------------------------------------------------------------------------


def check_module_state(sd: Any, module: nn.Module, part: str) -> None:
    """The same keys as `module`'s state_dict, each a tensor of its shape and dtype, finite."""
    if not isinstance(sd, dict):
        raise CheckpointError(f"{part} is a {type(sd).__name__}, not a state dict")
    ref = module.state_dict()
    missing = [k for k in ref if k not in sd]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CheckpointError(f"{part} has no {missing[0]}{more}, which the model has")
    extra = [k for k in sd if k not in ref]
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise CheckpointError(f"{part} has {extra[0]}{more}, which the model does not have")
    for key, value in ref.items():
        _tensor_like(sd[key], value, f"{part}.{key}")


def check_optimizer(sd: Any, opt: torch.optim.Optimizer, module: nn.Module, part: str) -> _Step | None:
    """An Adam state_dict that fits fresh optimizer `opt` of `module`; returns its update count
    (None when it has no state yet)."""
    if not (
        isinstance(sd, dict)
        and isinstance(sd.get("state"), dict)
        and isinstance(sd.get("param_groups"), list)
    ):
        raise CheckpointError(f"{part} is not an optimizer state (it needs 'state' and 'param_groups')")
    amsgrad = _check_groups(sd["param_groups"], opt.state_dict()["param_groups"], part)
    params = dict(enumerate(module.named_parameters()))  # Adam numbers them in this order
    state = sd["state"]
    extra = [k for k in state if k not in params]
    if extra:
        raise CheckpointError(
            f"{part} has state for parameter {extra[0]!r}, but the model has only "
            f"{len(params)} parameters (0 to {len(params) - 1}): it is another model's "
            "optimizer state"
        )
    keys = set(ADAM_STATE) | ({"max_exp_avg_sq"} if amsgrad else set())
    steps: list[tuple[_Step, int, str]] = []
    for pid, (name, p) in params.items():
        if state.get(pid) is not None:
            where = f"{part} state of parameter {pid} ({name})"
            steps.append((_check_adam_state(state[pid], p, keys, where), pid, name))
    if not steps:
        return None
    if len(steps) != len(params):
        pid = next(i for i in params if i not in state)
        raise CheckpointError(
            f"{part} has no state for parameter {pid} ({params[pid][0]}) but has some "
            "for others; one optimizer updates all its parameters together"
        )
    first, *_ = steps
    for other in steps[1:]:
        if other[0].value != first[0].value:
            raise CheckpointError(
                f"{part} state steps differ: parameter {first[1]} ({first[2]}) is at "
                f"{_fmt(first[0])}, parameter {other[1]} ({other[2]}) at {_fmt(other[0])}; "
                "one optimizer updates all its parameters together"
            )
    return first[0]


def _check_groups(groups: list[Any], fresh_groups: list[dict[str, Any]], part: str) -> bool:
    """Parameter groups that fit the fresh optimizer's; whether any uses amsgrad."""
    if len(groups) != len(fresh_groups):
        raise CheckpointError(
            f"{part} has {len(groups)} parameter groups, the model's optimizer has {len(fresh_groups)}"
        )
    amsgrad = False
    for i, (g, fresh) in enumerate(zip(groups, fresh_groups, strict=True)):
        if not isinstance(g, dict) or not isinstance(g.get("params"), list):
            raise CheckpointError(f"{part} parameter group {i} is not a parameter group")
        if g["params"] != fresh["params"]:
            raise CheckpointError(
                f"{part} parameter group {i} lists parameters {_ids(g['params'])}, the "
                f"model's optimizer has {_ids(fresh['params'])}"
            )
        for key in FIXED_GROUP_KEYS:
            if key in g and key in fresh and (type(g[key]) is not type(fresh[key]) or g[key] != fresh[key]):
                raise CheckpointError(
                    f"{part} parameter group {i} has {key} = {g[key]!r}; GAN Studio's "
                    f"Adam uses {fresh[key]!r}"
                )
        amsgrad = amsgrad or bool(g.get("amsgrad", False))
    return amsgrad


def _check_adam_state(s: Any, p: nn.Parameter, keys: set[str], where: str) -> _Step:
    """One parameter's Adam state (exactly `keys`, tensors like `p`); returns its step."""
    if not isinstance(s, dict) or set(s) != keys:
        found = sorted(s) if isinstance(s, dict) else type(s).__name__
        raise CheckpointError(f"{where} holds {found}; Adam's is {sorted(keys)}")
    for key in sorted(keys - {"step"}):
        _tensor_like(s[key], p.detach(), f"{where} {key}")
    for key in ("exp_avg_sq", "max_exp_avg_sq"):
        if key in s and not bool((s[key] >= 0).all()):
            raise CheckpointError(f"{where} {key} holds negative values; it is a mean of squares")
    return _step(s["step"], f"{where} step")


def for_optimizer(sd: dict[str, Any], opt: torch.optim.Optimizer) -> dict[str, Any]:
    """A checked optimizer state_dict with `opt`'s implementation settings (fused, foreach...):
    they belong to this machine, and load_state_dict places the step counters by them."""
    fresh = opt.state_dict()["param_groups"]
    groups = [
        {**g, **{k: f[k] for k in IMPLEMENTATION_KEYS if k in f}}
        for g, f in zip(sd["param_groups"], fresh, strict=True)
    ]
    return {**sd, "param_groups": groups}


class _Step:
    """An Adam step counter's value and dtype (float32 counts exactly only up to 2**24)."""

    def __init__(self, value: float, dtype: torch.dtype):
        self.value, self.dtype = value, dtype


def _step(t: Any, where: str) -> _Step:
    if not (isinstance(t, torch.Tensor) and t.dim() == 0 and t.dtype != torch.bool and not t.is_complex()):
        raise CheckpointError(f"{where} is {_describe(t)}; it must be a number (a 0-d real tensor)")
    value = float(t)
    if not (math.isfinite(value) and value >= 0 and value == math.floor(value)):
        raise CheckpointError(f"{where} is {value!r}; it must be a whole number >= 0")
    return _Step(value, t.dtype)


def _limit(dtype: torch.dtype) -> float:
    """Where a counter of this dtype stops counting one by one (float32: at 2**24, where x + 1 == x)."""
    return 2.0 / torch.finfo(dtype).eps if dtype.is_floating_point else math.inf


def _exact(s: _Step) -> bool:
    return s.value < _limit(s.dtype)


def _counts(s: _Step | None, count: int) -> bool:
    """Whether update counter `s` agrees with `count` updates."""
    if s is None:
        return count == 0
    if count < _limit(s.dtype):
        return s.value == count
    return not _exact(s)  # past where it counts exactly: it must have got there too


def _fmt(s: _Step | None) -> str:
    return "no" if s is None else f"{s.value:.0f}"


def _ids(ids: list[Any]) -> str:
    return repr(ids) if len(ids) <= 8 else f"{ids[:4]!r}... ({len(ids)} in all)"


# ----- data order, random streams, counters -----------------------------------------------------------


def check_sampler(s: Any, sampler: Sampler, epoch: float | None = None) -> None:
    """The data sampler's state: a permutation of the dataset, a position in it, its generator."""
    _keys(s, ("perm", "pos", "epochs_done", "generator"), "sampler")
    n, perm = sampler.n, s["perm"]
    if not (isinstance(perm, torch.Tensor) and perm.dim() == 1 and perm.dtype == torch.int64):
        raise CheckpointError(f"sampler.perm is {_describe(perm)}; it must be a 1-d int64 tensor")
    if perm.numel() not in (0, n):
        raise CheckpointError(f"sampler permutation has {perm.numel()} entries, the dataset has {n}")
    if perm.numel():
        # An index out of range would read past the dataset (a fault on a GPU); a repeat would skew
        # the epoch. Either is a damaged file.
        low, high = int(perm.min()), int(perm.max())
        if low < 0 or high >= n:
            raise CheckpointError(
                f"sampler.perm holds index {low if low < 0 else high}, outside the dataset's 0 to {n - 1}"
            )
        counts = torch.bincount(perm, minlength=n)
        if bool((counts != 1).any()):
            twice = int(torch.nonzero(counts > 1)[0])
            raise CheckpointError(
                f"sampler.perm is not a permutation of 0 to {n - 1}: index {twice} appears more than once"
            )
    pos = _int(s["pos"], "sampler.pos", 0, n if perm.numel() else 0)
    if pos % sampler.batch_size:
        raise CheckpointError(f"sampler.pos is {pos}, not a multiple of the batch size {sampler.batch_size}")
    epochs = _int(s["epochs_done"], "sampler.epochs_done", 0)
    _bytes_state(s["generator"], sampler.generator.get_state().numel(), "sampler.generator")
    if epoch is not None and epoch != epochs + pos / n:
        raise CheckpointError(
            f"epoch is {epoch!r}, but the sampler is {epochs} epochs and {pos} of {n} samples in"
        )


def check_rng(rng: Any, t: Trainer) -> None:
    """torch's, CUDA's, the noise generator's, numpy's and Python's random states."""
    _keys(rng, ("torch", "cuda", "noise", "noise_device", "numpy", "python"), "rng")
    _bytes_state(rng["torch"], torch.get_rng_state().numel(), "rng.torch")
    cuda = rng["cuda"]
    if not isinstance(cuda, list):
        raise CheckpointError(f"rng.cuda is {_describe(cuda)}; it must be a list of states")
    restore_cuda = torch.cuda.is_available() and len(cuda) == torch.cuda.device_count()
    for i, state in enumerate(cuda):  # restored only on a machine with as many GPUs
        _bytes_state(state, torch.cuda.get_rng_state(i).numel() if restore_cuda else None, f"rng.cuda[{i}]")
    device = rng["noise_device"]
    if not isinstance(device, str):
        raise CheckpointError(f"rng.noise_device is {_describe(device)}; it must be a device name")
    same = device == t.device.type  # another device's generator state is not restored
    _bytes_state(rng["noise"], t.noise_gen.get_state().numel() if same else None, "rng.noise")

    n = rng["numpy"]
    _keys(n, ("keys", "pos", "has_gauss", "cached_gaussian"), "rng.numpy")
    keys = n["keys"]
    if not (isinstance(keys, torch.Tensor) and keys.shape == (MT_WORDS,) and keys.dtype == torch.int64):
        raise CheckpointError(f"rng.numpy.keys is {_describe(keys)}; it must be {MT_WORDS} int64 words")
    if bool(((keys < 0) | (keys >= 2**32)).any()):
        raise CheckpointError("rng.numpy.keys holds values outside 0 to 2**32 - 1")
    _int(n["pos"], "rng.numpy.pos", 0, MT_WORDS)
    _int(n["has_gauss"], "rng.numpy.has_gauss", 0, 1)
    _finite(n["cached_gaussian"], "rng.numpy.cached_gaussian")

    py = rng["python"]
    if not (isinstance(py, (list, tuple)) and len(py) == 3):
        raise CheckpointError(f"rng.python is {_describe(py)}; it must be [version, state, gauss_next]")
    _int(py[0], "rng.python version", PY_RANDOM_VERSION, PY_RANDOM_VERSION)
    words = py[1]
    if not (isinstance(words, (list, tuple)) and len(words) == MT_WORDS + 1):
        raise CheckpointError(f"rng.python state is {_describe(words)}; it must be {MT_WORDS + 1} ints")
    if not all(type(w) is int and 0 <= w < 2**32 for w in words[:MT_WORDS]):
        raise CheckpointError("rng.python state holds values that are not ints from 0 to 2**32 - 1")
    _int(words[MT_WORDS], "rng.python state position", 0, MT_WORDS)
    if py[2] is not None:
        _finite(py[2], "rng.python gauss_next")


def check_accumulator(acc: Any, ref: torch.Tensor, step: int, wall: float) -> None:
    """The stats summed since the last log line: their sums, how many steps, from which wall time."""
    _keys(acc, ("sum", "count", "wall"), "stats_accumulator")
    _tensor_like(acc["sum"], ref, "stats_accumulator.sum", "the trainer's")
    _int(acc["count"], "stats_accumulator.count", 0, step)
    since = _finite(acc["wall"], "stats_accumulator.wall")
    if not 0 <= since <= wall:
        raise CheckpointError(
            f"stats_accumulator.wall is {since!r}, outside 0 to the run's wall time {wall!r}"
        )


def check_history(h: Any, step: int) -> None:
    """The logged stats: columns of one length, steps in order up to the checkpoint's, and markers."""
    _keys(h, ("step", "wall", "epoch", "values", "markers"), "history")
    steps = _column(h["step"], "history.step", "i")
    n = len(steps)
    if n and (steps[0] < 0 or bool((np.diff(steps) < 0).any()) or steps[-1] > step):
        raise CheckpointError(f"history.step is not in order from 0 to the checkpoint's step {step}")
    for key in ("wall", "epoch"):
        col = _column(h[key], f"history.{key}", "if", n)
        if not (np.isfinite(col).all() and (col >= 0).all()):
            raise CheckpointError(f"history.{key} holds values that are not finite numbers >= 0")
    if not isinstance(h["values"], dict):
        raise CheckpointError(f"history.values is {_describe(h['values'])}; it must be a dict of series")
    for key, series in h["values"].items():
        if not isinstance(key, str):
            raise CheckpointError(f"history.values has a series named {key!r}; names are text")
        _column(series, f"history series '{key}'", "if", n)  # NaN marks a point without this stat
    markers = h["markers"]
    if not isinstance(markers, list):
        raise CheckpointError(f"history.markers is {_describe(markers)}; it must be a list")
    for i, m in enumerate(markers):
        if not (
            isinstance(m, (list, tuple))
            and len(m) in (3, 4)
            and type(m[0]) is int
            and all(isinstance(v, str) for v in m[1:])
        ):
            raise CheckpointError(f"history.markers[{i}] is {m!r}; it must be [step, kind, text(, tag)]")


def check_holdout(held: Any, n: int) -> torch.Tensor:
    """The held-out image indices a checkpoint recorded (none for one from before holdouts):
    distinct, in order, within the dataset's n images."""
    if held is None:
        return torch.zeros(0, dtype=torch.int64)
    if not (isinstance(held, torch.Tensor) and held.dtype == torch.int64 and held.dim() == 1):
        raise CheckpointError(f"holdout is {_describe(held)}; it must be a 1-D int64 tensor of image indices")
    if len(held) and (int(held.min()) < 0 or int(held.max()) >= n or bool((held[1:] <= held[:-1]).any())):
        raise CheckpointError(
            f"holdout does not list distinct image indices in order below {n} (the "
            "dataset's size): the data is not the one this run trained on"
        )
    if len(held) >= n:
        raise CheckpointError(f"holdout holds {len(held)} of the {n} images: none would be left to train on")
    return held.clone()


def check_events(events: Any) -> None:
    """The run's logged events (alerts, pauses, changes, checkpoints): a list of records."""
    if events is None:
        return  # a checkpoint from before they were kept
    if not isinstance(events, list) or not all(
        isinstance(e, dict) and isinstance(e.get("event"), str) and type(e.get("step")) is int for e in events
    ):
        raise CheckpointError("events is not a list of event records (each with an event kind and a step)")


# ----- small checks ---------------------------------------------------------------------------------


def _tensor_like(x: Any, ref: torch.Tensor, where: str, owner: str = "the model's") -> None:
    """`x` is a tensor of `ref`'s shape and dtype (any device), and finite if floating point."""
    if not isinstance(x, torch.Tensor):
        raise CheckpointError(f"{where} is {_describe(x)}, not a tensor")
    if tuple(x.shape) != tuple(ref.shape):
        raise CheckpointError(f"{where} has shape {tuple(x.shape)}, {owner} is {tuple(ref.shape)}")
    if x.dtype != ref.dtype:
        raise CheckpointError(f"{where} is {x.dtype}, {owner} is {ref.dtype}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise CheckpointError(f"{where} holds NaN or infinite values")


def _bytes_state(x: Any, numel: int | None, where: str) -> None:
    """A generator state: a 1-d uint8 tensor, of `numel` bytes when that is known."""
    if not (isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and x.dim() == 1):
        raise CheckpointError(f"{where} is {_describe(x)}; a random state is a 1-d uint8 tensor")
    if numel is not None and x.numel() != numel:
        raise CheckpointError(f"{where} has {x.numel()} bytes; this generator's state has {numel}")


def _keys(d: Any, keys: Sequence[str], where: str) -> None:
    if not isinstance(d, dict):
        raise CheckpointError(f"{where} is {_describe(d)}, not a dict")
    missing = [k for k in keys if k not in d]
    if missing:
        raise CheckpointError(f"{where} has no '{missing[0]}'")


def _int(x: Any, where: str, low: int, high: int | None = None) -> int:
    if type(x) is not int or x < low or (high is not None and x > high):
        bound = f"a whole number >= {low}" if high is None else f"a whole number from {low} to {high}"
        raise CheckpointError(f"{where} is {x!r}; it must be {low if high == low else bound}")
    return x


def _finite(x: Any, where: str) -> float:
    if type(x) not in (int, float) or not math.isfinite(x):
        raise CheckpointError(f"{where} is {x!r}; it must be a finite number")
    return float(x)


def _column(values: Any, where: str, kinds: str, n: int | None = None) -> np.ndarray:
    """A 1-D tensor (checkpoints since issue 22) or a list (those before) of numbers, numpy dtype
    kind in `kinds` ('i' ints, 'f' floats), of length `n`."""
    if isinstance(values, torch.Tensor):
        try:
            arr = values.numpy()  # load() keeps tensors on the CPU
        except (TypeError, RuntimeError):  # a dtype numpy lacks (bfloat16): not a history column
            arr = None
    else:
        arr = np.asarray(values) if isinstance(values, list) else None
    if arr is not None and arr.size == 0:
        arr = arr.astype(np.int64 if kinds == "i" else np.float64)
    if arr is None or arr.ndim != 1 or arr.dtype.kind not in kinds:
        raise CheckpointError(f"{where} is {_describe(values)}; it must be a 1-D tensor or list of numbers")
    if n is not None and len(arr) != n:
        raise CheckpointError(f"{where} has {len(arr)} points, history.step has {n}")
    return arr


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)}, {x.dtype}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)}"
    return f"a {type(x).__name__}" if isinstance(x, (dict, str, bytes)) else repr(x)
