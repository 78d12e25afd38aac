"""The latent explorer's thread: computations off the GUI thread, the latest request winning.

`ExplorerThread` holds one pending request per kind ("source", "grid", "strip", "compare",
"nearest"): a new request of a kind replaces the one still waiting, so a slider dragged fast never
queues a backlog. `_Jobs` does the work with ganstudio.core.latent on a CPU copy of the generator;
only plain data (numpy arrays, small dicts, the core's result dataclasses) comes back, as a
`Reply`. Like the training thread, it is stopped, never killed (`close`). Another run makes it
`forget` the generator it holds; the real images it indexed are kept only for the same data.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QThread, Signal

from ganstudio.qt import worker as worker_module

ORDER = ("source", "grid", "strip", "compare", "nearest")  # what the thread does first
COMPARE_ROWS = 8  # latents compared when fewer are picked
MESH_RESOLUTION, MESH_SPAN = 21, 3.0
THREAD_TORCH_THREADS = 1  # a core for the explorer, the rest stay with training


@dataclass(frozen=True)
class Reply:
    """What the thread sends back: plain data only."""

    kind: str
    generation: int  # the source it was computed from
    payload: Any
    error: str = ""
    seconds: float = 0.0


class _Jobs:
    """What the explorer thread does for each kind of request. Qt-free; runs on that thread only."""

    def __init__(self, should_stop):
        self.explorer = None
        self.dataset = None
        self.index = None
        self._data_key = None  # what `dataset` was loaded from: (config.data, train.seed)
        self._should_stop = should_stop

    def forget(self) -> None:
        """Another run: its generator is not this one's."""
        self.explorer = None

    def source(self, a: dict) -> dict:
        from ganstudio.core import latent

        weights = a.get("weights") or latent.weights_from_checkpoint(a["checkpoint"])
        self.explorer = latent.Explorer(weights)
        cfg = weights.config
        key = (cfg.data, cfg.train.seed)  # the seed splits off the holdout: other training images
        if a.get("dataset") is not None and a["dataset"] is not self.dataset:
            self.dataset, self.index = a["dataset"], None
        elif key != self._data_key:
            self.dataset, self.index = None, None
        self._data_key = key
        ex = self.explorer
        return {
            "step": ex.step,
            "source": weights.source,
            "is_2d": ex.is_2d,
            "has_ema": ex.has_ema,
            "latent_dim": ex.latent_dim,
            "n": int(ex.fixed_noise.shape[0]),
            "arch": ex.config.model.arch,
            "num_classes": ex.num_classes,
        }

    def _offset(self, a: dict):
        self.explorer.label = a.get("label", 0)  # every request but "source" asks for an offset
        return self.explorer.offset(a["walk"], a["picks"])

    def grid(self, a: dict) -> dict:
        ex = self.explorer
        offset = self._offset(a)
        out = {"grid": ex.grid(a["psi"], offset), "mesh": None}
        if ex.is_2d and a.get("mesh"):
            out["mesh"] = ex.manifold(MESH_RESOLUTION, MESH_SPAN, base=offset)
        return out

    def strip(self, a: dict):
        ex = self.explorer
        offset = self._offset(a)
        z0, z1 = (ex.transform(ex.latent(p), a["psi"], offset) for p in a["picks"][:2])
        return ex.strip(z0, z1, a["frames"], a["mode"])

    def compare(self, a: dict):
        import torch

        ex = self.explorer
        offset = self._offset(a)
        if ex.is_2d:
            z = ex.fixed_noise
        elif a["picks"]:
            z = torch.stack([ex.latent(p) for p in a["picks"]])
        else:
            z = ex.fixed_noise[:COMPARE_ROWS]
        return ex.compare(z + offset, a["psi"])

    def nearest(self, a: dict) -> dict:
        from ganstudio.core import latent
        from ganstudio.core.image import to_grid

        ex = self.explorer
        if self.index is None:
            if self.dataset is None:
                from ganstudio.core.data import load_dataset

                cfg = ex.config
                self.dataset = load_dataset(cfg.data, seed=cfg.train.seed)
            self.index = latent.RealIndex(ex.config, self.dataset)
        z = ex.transform(ex.latent(a["picks"][0]), a["psi"], self._offset(a))
        query = ex.generate(z[None])
        rows = {}
        for space in ("features", "pixels"):
            found = self.index.nearest(query, a["k"], space, should_stop=self._should_stop)
            images = self.index.images(found.indices[0])
            rows[found.space] = (to_grid(images, nrow=len(images)), found.distances[0].tolist())
        return {"query": latent.to_image(query[0]), "rows": rows}


class ExplorerThread(QThread):
    """The explorer's computations, off the GUI thread: one pending request per kind, and a new
    request of a kind replaces the one still waiting (the latest wins). Stopped, never killed."""

    replied = Signal(object)  # Reply

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("latent-thread")
        self._cond = threading.Condition()
        self._pending: dict[str, tuple[int, dict]] = {}
        self._busy = False
        self._forget = False
        self._closed = False
        worker_module.THREADS.add(self)  # the tests' guard sees it like a training thread

    def submit(self, kind: str, generation: int, args: dict) -> None:
        with self._cond:
            if self._closed:
                return
            # A request for a newer source makes those still waiting for an older one pointless.
            self._pending = {k: v for k, v in self._pending.items() if v[0] >= generation}
            self._pending[kind] = (generation, args)
            self._cond.notify_all()
        if not self.isRunning():
            self.start()

    def forget(self) -> None:
        """Another run: drop what waits, and the generator, before the next request."""
        with self._cond:
            self._pending.clear()
            self._forget = True
            self._cond.notify_all()

    def close(self) -> None:
        """Drop what waits, let the running computation end, and wait for the thread."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        self.wait()

    @property
    def idle(self) -> bool:
        """Nothing waits and nothing runs; every reply has been sent (queued to the GUI thread)."""
        with self._cond:
            return not self._pending and not self._busy and not (self._forget and self.isRunning())

    def _stopping(self) -> bool:
        return self._closed

    def run(self) -> None:
        import torch

        torch.set_num_threads(THREAD_TORCH_THREADS)  # this thread's own count
        jobs = _Jobs(self._stopping)
        while True:
            with self._cond:
                while not self._pending and not self._closed and not self._forget:
                    self._cond.wait()
                if self._closed:
                    return
                forget, self._forget = self._forget, False
                kind = next((k for k in ORDER if k in self._pending), None)
                if kind is not None:
                    generation, args = self._pending.pop(kind)
                self._busy = kind is not None
            if forget:
                jobs.forget()
            if kind is None:
                continue
            t0 = time.perf_counter()
            reply = None
            try:
                if kind == "source" or jobs.explorer is not None:
                    reply = Reply(
                        kind, generation, getattr(jobs, kind)(args), seconds=time.perf_counter() - t0
                    )
            except Exception as e:  # shown in the dock; the explorer keeps its last good state
                reply = Reply(kind, generation, None, error=_readable(e))
            if reply is not None and not self._closed:
                self.replied.emit(reply)
            with self._cond:
                self._busy = False


def _readable(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return (
        text
        if type(e).__name__ in ("CheckpointError", "DataError", "ValueError", "OSError", "ModelCodeError")
        else f"{type(e).__name__}: {text}"
    )
