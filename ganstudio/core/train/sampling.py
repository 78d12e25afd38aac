"""The run's samples at a step, as a Samples event: the fixed-noise grid of images or, for 2D data,
the lab's view (lab.py). What the generator draws them with is the trainer's (`generate`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ganstudio.core.image import to_grid
from ganstudio.core.models import conditional
from ganstudio.core.run.events import Samples
from ganstudio.core.train import lab

if TYPE_CHECKING:
    from ganstudio.core.train.trainer import Trainer


def samples_of(t: Trainer) -> Samples:
    """The samples of `t`'s current step (recorded in `t.last_samples`)."""
    t.last_samples = t.step
    # While the latent explorer is open, a CPU copy of the generator the grid was drawn with
    # goes along (one copy of G's weights); otherwise nothing: the flag is set from the GUI.
    generator = None
    if t.share_generator:
        from ganstudio.core.latent import weights_of

        generator = weights_of(t)
    if t.data.is_2d:
        # The lab's view: G's points with the push on each, over D's field, in the run's
        # fixed extent so the view stays put.
        snap = lab.field_snapshot(t.D, t.sampling_generator, t.fixed_noise, t.loss, t.extent, device=t.device)
        return Samples(
            step=t.step,
            points=snap.fake_points,
            field=snap.field,
            extent=t.extent,
            arrows=snap.g_grad,
            field_is_probability=t.loss.probabilistic,
            generator=generator,
        )
    # The samples panel's "augmented reals": the first grid's worth of training reals as D sees them.
    augmented = t.augment.preview(t.x[: len(t.fixed_noise)].float())
    return Samples(
        step=t.step,
        grid=_class_grid(t) if t.y is not None else to_grid(t.generate(t.fixed_noise)),
        generator=generator,
        augmented=to_grid(augmented.cpu()) if augmented is not None else None,
    )


CLASS_COLUMNS = 8  # model.conditional: the grid's columns, the first fixed noise vectors


@torch.no_grad()
def _class_grid(t: Trainer):
    """One row per class, the same CLASS_COLUMNS noise vectors in each (a conditional run's grid)."""
    g = t.sampling_generator
    z, y = conditional.per_class(t.fixed_noise[:CLASS_COLUMNS], t.data.num_classes)
    was_training = g.training
    g.eval()
    try:
        with t.autocast:
            out = conditional.generate(g, z.to(t.device), y.to(t.device)).float().cpu()
    finally:
        g.train(was_training)
    return to_grid(out, nrow=CLASS_COLUMNS)
