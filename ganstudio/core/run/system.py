"""What a training process uses of its machine: the readings of a "system" line (events.System).

`SystemSampler(device).read()` gives this process's CPU use since its previous reading (percent of
one core, as `top` shows it: two busy threads read 200; the first reading covers the time since the
process started), its resident memory, and on a CUDA device the memory torch has allocated and
reserved there plus the device's utilisation over the last sample period from NVML, when the
nvidia-ml-py package (`import pynvml`) is installed. `where()` says the host and the devices.

Nothing here raises for a reading it cannot make: a machine without a GPU, without NVML or with a
driver that refuses the query gives None for that reading (absent from the line), never an error.
psutil reads the process the same way on Linux, macOS and Windows (the standard library has the
current resident memory on Linux only).
"""

from __future__ import annotations

import math
import os
import socket
import time
from typing import Any

import psutil

from ganstudio.core.run.events import System

MB = 2**20


class SystemSampler:
    """Readings of this process on `device` ("cpu", "cuda", "cuda:1", "mps", or a torch.device)."""

    def __init__(self, device: Any = "cpu"):
        name = str(device)
        self.kind, _, index = name.partition(":")
        self.index = int(index) if index.isdigit() else None
        self._process = psutil.Process()
        self._nvml: Any = None  # the device's NVML handle, once found
        self._nvml_tried = False
        # The first reading's CPU share covers the process's life so far.
        try:
            started = self._process.create_time()
        except psutil.Error:
            started = time.time()
        self._last_cpu = 0.0
        self._last_wall = time.monotonic() - max(0.0, time.time() - started)

    # ----- where -----------------------------------------------------------------------------

    def where(self) -> tuple[str, tuple[str, ...]]:
        """(this machine's name, this process's devices as text, e.g. "cuda:0 NVIDIA H100 (79 GiB)")."""
        return socket.gethostname(), (self._describe(),)

    def _describe(self) -> str:
        if self.kind == "cuda":
            try:
                import torch

                index = self._cuda_index()
                props = torch.cuda.get_device_properties(index)
                return f"cuda:{index} {props.name} ({props.total_memory / 2**30:.0f} GiB)"
            except Exception:
                return "cuda"
        if self.kind == "cpu":
            return f"cpu ({os.cpu_count() or '?'} cores)"
        return self.kind

    def _cuda_index(self) -> int:
        import torch

        return self.index if self.index is not None else torch.cuda.current_device()

    # ----- readings ----------------------------------------------------------------------------

    def read(self) -> dict[str, float | None]:
        """{reading: value or None} for each of System.FIELDS, rounded as the line keeps them."""
        out: dict[str, float | None] = dict.fromkeys(System.FIELDS)
        out["cpu_percent"], out["rss_mb"] = self._process_readings()
        if self.kind == "cuda":
            out.update(self._cuda_readings())
        elif self.kind == "mps":
            out.update(self._mps_readings())
        return {k: rounded(v) for k, v in out.items()}

    def _process_readings(self) -> tuple[float | None, float | None]:
        try:
            with self._process.oneshot():
                times = self._process.cpu_times()
                rss = self._process.memory_info().rss
        except psutil.Error:
            return None, None
        cpu, wall = times.user + times.system, time.monotonic()
        share = 100.0 * (cpu - self._last_cpu) / (wall - self._last_wall) if wall > self._last_wall else None
        self._last_cpu, self._last_wall = cpu, wall
        return share, rss / MB

    def _cuda_readings(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        try:
            import torch

            if torch.cuda.is_initialized():  # never the one to start CUDA
                index = self._cuda_index()
                out["gpu_mem_mb"] = torch.cuda.memory_allocated(index) / MB
                out["gpu_mem_reserved_mb"] = torch.cuda.memory_reserved(index) / MB
        except Exception:
            pass
        out["gpu_util"] = self._gpu_util()
        return out

    def _mps_readings(self) -> dict[str, float | None]:
        try:
            import torch

            return {
                "gpu_mem_mb": torch.mps.current_allocated_memory() / MB,
                "gpu_mem_reserved_mb": torch.mps.driver_allocated_memory() / MB,
            }
        except Exception:
            return {}

    def _gpu_util(self) -> float | None:
        handle = self._nvml_handle()
        if handle is None:
            return None
        try:
            import pynvml

            return float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:
            return None

    def _nvml_handle(self) -> Any:
        """The NVML handle of this process's GPU (found by its UUID, which CUDA_VISIBLE_DEVICES
        does not renumber), or None: looked for once."""
        if self._nvml_tried:
            return self._nvml
        self._nvml_tried = True
        try:
            import pynvml  # nvidia-ml-py, optional
        except ImportError:
            return None
        try:
            import torch

            pynvml.nvmlInit()
            index = self._cuda_index()
            uuid = str(torch.cuda.get_device_properties(index).uuid)
            try:
                self._nvml = pynvml.nvmlDeviceGetHandleByUUID(
                    uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
                )
            except Exception:
                self._nvml = pynvml.nvmlDeviceGetHandleByIndex(index)
        except Exception:
            self._nvml = None
        return self._nvml


def rounded(value: float | None) -> float | None:
    """A reading as a line keeps it: one decimal, None for what is not a finite number."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 1)


def system_event(
    step: int, rank: int, readings: dict[str, float | None], host: str, devices: tuple[str, ...]
) -> System:
    """The system line of rank `rank` at `step`, stamped with this machine's clock."""
    return System(
        step=step, time=round(time.time(), 3), rank=rank, host=host, devices=tuple(devices), **readings
    )
