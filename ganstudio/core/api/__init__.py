"""Your own training loop as a GAN Studio run: the API behind `ganstudio.init`.

run.py       `init(...)` and `Run`: log, log_images, tick (steering), watch, on_save, finish
settings.py  the loop's config: GAN Studio's keys (validated) and the loop's own, and their edits
scalars.py   logged values kept as given and read in one batch per flush (no host sync per call)
writer.py    the run folder written without ever stopping the loop (full disk, deleted folder)

It writes the same run folder as `ganstudio train`, from the same events, and is steered through
the same control file, so the app treats the run like its own.
"""

from ganstudio.core.api.run import Run, init
from ganstudio.core.api.writer import GanStudioWarning

__all__ = ["GanStudioWarning", "Run", "init"]
