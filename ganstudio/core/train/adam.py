"""The trainer's Adam: torch.optim.Adam, stepped through its fused kernel without the bookkeeping.

The optimizers are plain torch.optim.Adam (their state_dicts are what checkpoints hold), fused on the
CPU and CUDA: one kernel updates every parameter. `step(opt)` calls that same kernel
(torch._fused_adam_, as Adam's own fused path does) on the optimizer's own state, skipping what
Optimizer.step does around it on every call (a profiler range, hooks, grouping the tensors by device
and dtype, per-parameter checks): about 100 µs a call on a 2-core CPU, ~6% of a default digits
step (torch.profiler; BENCHMARKS.md, rows F1-F3). Same kernel, same inputs: the same weights and
state bit for bit (tests/core/test_step_speed.py). Whatever the shortcut does not cover (no state
yet, a parameter without a gradient, hooks, amsgrad, mixed devices or dtypes, an unfused optimizer)
takes opt.step().
"""

from __future__ import annotations

import weakref

import torch
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks


def make(params, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam over `params`, fused where torch has the kernel (CPU, CUDA): on the CPU it is the
    fastest Adam for these small models, with the same state_dict as the default implementation."""
    fused = True if device.type in ("cpu", "cuda") else None
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused)


def zero_grad(opt: torch.optim.Optimizer) -> None:
    """opt.zero_grad(set_to_none=True) without its profiler range and grouping."""
    for group in opt.param_groups:
        for p in group["params"]:
            p.grad = None


def requires_grad(opt: torch.optim.Optimizer, flag: bool) -> None:
    """module.requires_grad_(flag) for the module `opt` optimises (all its parameters), without
    walking the module tree on every step."""
    for group in opt.param_groups:
        for p in group["params"]:
            p.requires_grad_(flag)


def step(opt: torch.optim.Optimizer) -> None:
    """opt.step(), through the fused kernel directly when nothing needs Optimizer.step's path."""
    batches = _gathered(opt) if _direct(opt) else None
    if batches is None:
        opt.step()
        return
    for group, (params, grads, exp_avgs, exp_avg_sqs, steps) in zip(opt.param_groups, batches, strict=True):
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            amsgrad=False,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
            grad_scale=None,
            found_inf=None,
        )


def _gathered(opt: torch.optim.Optimizer) -> list[tuple[list, ...]] | None:
    """Each group's parameters, gradients and state tensors; None when a parameter has no gradient
    or no state yet (Optimizer.step skips the one and makes the other)."""
    state, out = opt.state, []
    for group in opt.param_groups:
        params = group["params"]
        grads, exp_avgs, exp_avg_sqs, steps = [], [], [], []
        for p in params:
            s = state.get(p)
            if p.grad is None or not s:
                return None
            grads.append(p.grad)
            exp_avgs.append(s["exp_avg"])
            exp_avg_sqs.append(s["exp_avg_sq"])
            steps.append(s["step"])
        out.append((params, grads, exp_avgs, exp_avg_sqs, steps))
    return out


# The optimizers whose groups were found fit for the kernel: (groups, parameters) when checked.
_FIT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _direct(opt: torch.optim.Optimizer) -> bool:
    """Whether `opt` can be stepped through the fused kernel directly: a fused Adam with no hooks,
    no amsgrad and a float learning rate, its parameters and gradients dense on one device and
    dtype (checked once per set of parameters)."""
    if type(opt) is not torch.optim.Adam or not opt.defaults.get("fused"):
        return False
    if opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks:
        return False
    if _global_optimizer_pre_hooks or _global_optimizer_post_hooks:
        return False
    for group in opt.param_groups:
        if group["amsgrad"] or group.get("decoupled_weight_decay") or torch.is_tensor(group["lr"]):
            return False
    shape = (len(opt.param_groups), sum(len(g["params"]) for g in opt.param_groups))
    if _FIT.get(opt) != shape:
        params = [p for g in opt.param_groups for p in g["params"]]
        if not params or len({(p.device, p.dtype, p.is_sparse) for p in params}) != 1 or params[0].is_sparse:
            return False
        _FIT[opt] = shape
    return True
