"""GAN Studio: train generative adversarial networks and watch them train.

Your own loop in GAN Studio's window (ganstudio/core/api):

    import ganstudio
    run = ganstudio.init(out="runs", name="my-gan", config={"optim.lr_g": 2e-4})
    run.watch(g_optimizer=opt_g, d_optimizer=opt_d)
    for step in range(1, steps + 1):
        ...
        run.log(step, loss_d=loss_d, loss_g=loss_g)
        if not run.tick(step):
            break
    run.finish()

`import ganstudio` loads neither Qt nor torch: the API is imported when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganstudio.core.api import GanStudioWarning, Run, init

__version__ = "0.1.0"
__all__ = ["GanStudioWarning", "Run", "__version__", "init"]
_API = ("GanStudioWarning", "Run", "init")


def __getattr__(name: str) -> Any:
    if name in _API:
        from ganstudio.core import api

        return getattr(api, name)
    raise AttributeError(f"module 'ganstudio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
