"""Switching the GAN objective mid-run (the 2D lab's classic experiment) applies from the next step."""

import dataclasses

from ganstudio.core.run.control import Control
from ganstudio.core.run.events import HyperparamsChanged, Stats
from ganstudio.core.train.losses import WGANGP, NonSaturating


def test_loss_kind_switches_live(make_trainer, tiny_config):
    cfg = tiny_config("ring8", steps=12)
    trainer = make_trainer(cfg)
    assert isinstance(trainer.loss, NonSaturating)
    control = Control()
    new = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, kind="wgan-gp"))
    events = []
    for ev in trainer.run(control):
        events.append(ev)
        if isinstance(ev, Stats) and ev.step == 4:
            control.update_config(new)
    changed = [e for e in events if isinstance(e, HyperparamsChanged)]
    assert changed and changed[0].changes == {"loss.kind": ("nonsaturating", "wgan-gp")}
    assert isinstance(trainer.loss, WGANGP)
    # The stats after the switch are the WGAN critic's: its loss E[D(fake)] - E[D(real)] + penalty
    # is computed on raw scores, and D(x) is a raw score rather than a probability.
    after = [e for e in events if isinstance(e, Stats) and e.step > changed[0].step]
    assert after and trainer.step == 12
    assert not trainer.loss.probabilistic
