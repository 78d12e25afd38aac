"""What makes the step faster must not change what it computes: Adam through its fused kernel gives
the optimizer's own weights and state bit for bit; train.compile gives eager's weights to float
tolerance and resumes exactly within its mode; a compile that cannot work trains eager with one
alert and no traceback."""

from __future__ import annotations

import copy

import pytest
import torch

from ganstudio.core.run.events import Alert, Failed, Finished
from ganstudio.core.train import adam, compiled
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import assert_same, dataset_for, of_type, run_all, snapshot


@pytest.fixture
def inductor_cache(monkeypatch):
    """torch's own cache folder for inductor, kept between test sessions (GAN Studio's cache folder
    is a fresh temporary one in tests): compiling the tiny models then takes seconds, not minutes."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())


def _models_and_grads(make_trainer, tiny_config):
    t = make_trainer(tiny_config("digits"))
    return t.G, [torch.randn(64, t.cfg.model.latent_dim) for _ in range(6)]


def test_adam_step_is_the_optimizers_step_bit_for_bit(tiny_config, make_trainer):
    G, batches = _models_and_grads(make_trainer, tiny_config)
    H = copy.deepcopy(G)
    cpu = torch.device("cpu")
    ours, theirs = (
        adam.make(G.parameters(), 2e-3, (0.5, 0.99), cpu),
        adam.make(H.parameters(), 2e-3, (0.5, 0.99), cpu),
    )
    for i, z in enumerate(batches):
        if i == 3:  # a live edit of the learning rate and betas, as Trainer.reconfigure makes it
            for opt in (ours, theirs):
                opt.param_groups[0].update(lr=5e-4, betas=(0.0, 0.9))
        adam.zero_grad(ours)
        theirs.zero_grad(set_to_none=True)
        G(z).square().mean().backward()
        H(z).square().mean().backward()
        assert adam._direct(ours)
        assert (adam._gathered(ours) is not None) == (i > 0)  # the first step makes the state
        adam.step(ours)
        theirs.step()
    assert_same(G.state_dict(), H.state_dict(), "G")
    assert_same(ours.state_dict(), theirs.state_dict(), "Adam")


def test_adam_step_takes_the_optimizers_path_when_it_must(tiny_config, make_trainer):
    G, (z, *_) = _models_and_grads(make_trainer, tiny_config)
    opt = adam.make(G.parameters(), 1e-3, (0.5, 0.99), torch.device("cpu"))
    G(z).mean().backward()
    adam.step(opt)
    assert adam._direct(opt)
    first = next(G.parameters())
    first.grad = None  # a parameter without a gradient: Adam skips it, the kernel would not
    assert adam._gathered(opt) is None
    before = first.detach().clone()
    adam.step(opt)  # Optimizer.step: the others move, this one stays
    assert torch.equal(first.detach(), before)
    adam.requires_grad(opt, False)
    assert not any(p.requires_grad for p in G.parameters())
    adam.requires_grad(opt, True)
    G(z).mean().backward()
    calls = []
    handle = opt.register_step_post_hook(lambda *a: calls.append(1))
    assert not adam._direct(opt)  # a hook: only Optimizer.step runs it
    adam.step(opt)
    handle.remove()
    assert calls == [1]
    plain = torch.optim.Adam(G.parameters(), lr=1e-3)
    plain.step()
    assert not adam._direct(plain)  # unfused (the thread probe's): its own step


def _run(cfg, **kw) -> tuple[Trainer, list]:
    t = Trainer(cfg, dataset=dataset_for(cfg.data, cfg.train.seed), **kw)
    return t, run_all(t)


def _noise_driven(module: torch.nn.Module) -> set[str]:
    """The entries no gradient steers: a Linear's bias right before a BatchNorm (BN takes the batch
    mean away, so its gradient is rounding noise, which Adam scales up to full steps) and that BN's
    running mean, which follows the bias. Any two float orders of the same step differ there."""
    found, prev = set(), None
    for name, layer in module.named_modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm) and isinstance(prev[1], torch.nn.Linear):
            found |= {f"{prev[0]}.bias", f"{name}.running_mean"}
        prev = (name, layer)
    return found


def test_compiled_step_trains_the_eager_weights(tiny_config, inductor_cache):
    eager, _ = _run(tiny_config("digits", steps=100, every=10))
    done, events = _run(tiny_config("digits", {"train.compile": "default"}, steps=100, every=10))
    assert done.step_models.mode == "default" and not of_type(events, Alert)
    assert events[-1] == Finished(step=100, reason="completed")
    for name in ("G", "D"):
        a, b = getattr(eager, name).state_dict(), getattr(done, name).state_dict()
        for key in a.keys() - _noise_driven(getattr(eager, name)):
            torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=f"{name}.{key}")
    z = torch.randn(64, eager.cfg.model.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # in training mode (batch statistics) G is the same function
        torch.testing.assert_close(done.G(z), eager.G(z), rtol=1e-4, atol=1e-5)


def test_compiled_resume_is_exact(tiny_config, tmp_path, inductor_cache):
    cfg = tiny_config("digits", {"train.compile": "default"}, steps=9, every=2, checkpoint_every=4)
    straight, _ = _run(cfg, checkpoint_dir=tmp_path / "a")
    resumed = Trainer.from_checkpoint(
        tmp_path / "a" / f"step-{4:09d}.pt", dataset=dataset_for(cfg.data), checkpoint_dir=tmp_path / "b"
    )
    events = run_all(resumed)
    assert resumed.step_models.mode == "default" and events[-1] == Finished(step=9, reason="completed")
    assert_same(resumed.G.state_dict(), straight.G.state_dict(), "G")
    assert_same(resumed.D.state_dict(), straight.D.state_dict(), "D")
    assert_same(resumed.opt_g.state_dict(), straight.opt_g.state_dict(), "opt_g")


def _one_compile_alert(events) -> str:
    alerts = of_type(events, Alert)
    assert [a.kind for a in alerts] == [compiled.KIND], alerts
    assert not of_type(events, Failed) and events[-1].reason == "completed"
    message = alerts[0].message
    assert "train.compile = 'default'" in message and "trains eager" in message
    assert "Traceback" not in message and "\n" not in message
    return message


def test_no_compiler_trains_eager_with_one_alert(tiny_config, monkeypatch):
    monkeypatch.setattr(compiled, "_cpp_compiler", lambda: None)
    monkeypatch.setattr(compiled, "compile_module", lambda *a: pytest.fail("compiled without a compiler"))
    eager, _ = _run(tiny_config("digits", steps=6))
    fell_back, events = _run(tiny_config("digits", {"train.compile": "default"}, steps=6))
    assert "no C++ compiler" in _one_compile_alert(events)
    assert fell_back.step_models.mode == "off"
    assert_same(snapshot(fell_back)["G"], snapshot(eager)["G"], "G")  # eager, bit for bit


class _Broken(torch.nn.Module):
    """What a compiled module does when inductor fails: raises on its first call."""

    def forward(self, *args):
        raise RuntimeError("InductorError: CppCompileError: C++ compile error\nCommand: g++ ...")


def test_a_failing_compile_trains_eager_with_one_alert(tiny_config, monkeypatch):
    monkeypatch.setattr(compiled, "compile_module", lambda module, mode: _Broken())
    eager, _ = _run(tiny_config("digits", steps=6))
    fell_back, events = _run(tiny_config("digits", {"train.compile": "default"}, steps=6))
    message = _one_compile_alert(events)
    assert "torch.compile failed (RuntimeError: InductorError: CppCompileError" in message
    assert_same(snapshot(fell_back)["G"], snapshot(eager)["G"], "G")
    assert_same(snapshot(fell_back)["noise"], snapshot(eager)["noise"], "noise")  # the probe's own


def test_penalty_steps_call_the_eager_models(tiny_config):
    """WGAN-GP and R1 take a double backward, which compiled graphs do not: those steps go eager."""
    t = Trainer(tiny_config("ring8"), dataset=dataset_for(tiny_config("ring8").data))
    t.step_models.G, t.step_models.D = "compiled G", "compiled D"
    due = type("Due", (), {"r1": 0.0, "r2": 0.0})
    assert t.step_models.pick(t, due) == ("compiled G", "compiled D")
    assert t.step_models.pick(t, type("Due", (), {"r1": 1.0, "r2": 0.0})) == (t.G, t.D)
    t.cfg = tiny_config("ring8", {"loss.kind": "wgan-gp"})
    assert t.step_models.pick(t, due) == (t.G, t.D)


def test_wgan_gp_says_it_trains_eager(tiny_config, monkeypatch):
    monkeypatch.setattr(compiled, "compile_module", lambda *a: pytest.fail("compiled for WGAN-GP"))
    cfg = tiny_config("ring8", {"loss.kind": "wgan-gp", "train.compile": "default"}, steps=4)
    t, events = _run(cfg)
    assert "double backward" in _one_compile_alert(events) and t.step_models.mode == "off"
