"""The content digest of a checkpoint: what it is computed over and how, kept in one place because
every checkpoint since format version 2 stores one (see io.seal and io.load).

A digest is "<method>:<hex>": SHA-256 of the checkpoint pickled canonically (below), with each
tensor in it replaced by its dtype, shape and a check of its bytes, which the method names. A
method, once files carry it, is never changed: a new one gets a new name in TENSOR_CHECKS.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import xxhash

# The method new checkpoints get, and every method a digest may name, by how a tensor's bytes enter it.
METHOD = "xxh3-sha256"
TENSOR_CHECKS: dict[str, Callable[[Any], int]] = {
    "xxh3-sha256": xxhash.xxh3_128_intdigest,
    "crc32-sha256": zlib.crc32,  # the first method: files written with it still verify
}


class _HashSink:
    """A write-only file that feeds a hash."""

    def __init__(self, h: Any):
        self.write = h.update


class _DigestPickler(pickle.Pickler):
    """Pickles a checkpoint into a hash, each tensor as its dtype, shape and the check of its bytes.

    Protocol 2 without a memo (`fast`): the bytes depend on the values alone, never on which
    objects happen to be shared, and its opcodes have not changed since Python 2.3. reducer_override
    is not called for exact ints, floats, strs, lists, tuples and dicts, so a history of a million
    floats is hashed at C speed; tensors are read through the buffer protocol, without copies.
    """

    def __init__(self, h: Any, tensor_check: Callable[[Any], int]):
        super().__init__(_HashSink(h), protocol=2)
        self.fast = True
        self._check = tensor_check

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return tuple, (("tensor", str(obj.dtype), tuple(obj.shape), self._check(tensor_bytes(obj))),)
        if isinstance(obj, dict):  # an OrderedDict (a module's state_dict) and its _metadata
            return tuple, (("dict", dict(obj), getattr(obj, "__dict__", None)),)
        return NotImplemented


def tensor_bytes(t: torch.Tensor) -> Any:
    """A tensor's values as a C-contiguous buffer of its bytes in order: for a contiguous CPU tensor
    the tensor's own memory (as a numpy array, which the checks read through the buffer protocol)."""
    # The common case in one torch call: a checkpoint holds ~100 tensors, and the six calls of the
    # general path below, at a few microseconds a tensor, were a third of a small checkpoint's digest.
    # numpy() refuses a tensor on a device, one needing grad, one with a conj or neg bit, and a
    # dtype numpy lacks (bfloat16); the general path takes those.
    with contextlib.suppress(RuntimeError, TypeError):
        a = t.numpy()
        if a.flags.c_contiguous:
            return a
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.resolve_conj().resolve_neg().contiguous()
    if t.numel() == 0:  # an empty tensor's stride may be 0, which no byte view accepts
        return np.zeros(0, dtype=np.uint8)
    return t.reshape(-1).view(torch.uint8).numpy()


def digest(obj: Any, method: str = METHOD) -> str:
    """The digest of `obj`: SHA-256 of its keys in order, plain values, and every tensor's dtype, shape
    and 128-bit XXH3 ("xxh3-sha256"; "crc32-sha256" files use zlib's CRC-32 instead).

    The tensors' bytes are nearly all of a checkpoint, and reading them again is the whole cost:
    XXH3 (the xxhash package) runs at ~28 GB/s on this project's machines, zlib's CRC-32 at ~7 GB/s
    and SHA-256 (on the CPU's SHA instructions) at ~2 GB/s, while torch.load reads a cached file at
    3.5-6 GB/s (benchmarks/bench_checkpoint.py): with XXH3 the check adds a fraction of a load, with
    CRC-32 it doubled a large one. XXH3-128 passes SMHasher's quality tests; a random corruption goes
    unnoticed with probability 2**-128 per tensor. A digest without a key stops no forger whatever its
    hash; the weights-only loader is the defence there."""
    h = hashlib.sha256()
    _DigestPickler(h, TENSOR_CHECKS[method]).dump(obj)
    return f"{method}:{h.hexdigest()}"
