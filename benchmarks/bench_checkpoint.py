"""8. Checkpoints: save and load time with the content digest against the same without it.

For the default digits model (mlp) and a DCGAN at 64x64 (the default width), each after a few
steps so both Adam moments exist: `checkpoints.save_atomic` (digest, torch.save, fsync, rename)
and `checkpoints.load` (torch.load, digest, structure, config), against the same two calls with the
digest switched off (`seal` returning the checkpoint as it is; `_verify` checking nothing). The four
are timed in alternating rounds, the order flipped every round, so a shared machine's drift hits
both sides alike. Also the digest alone (each tensor's bytes by XXH3-128, the method new
checkpoints get), its rate in MB/s, and the same digest with each tensor's bytes by CRC-32 (the
first method, which older files still carry) and by SHA-256, for comparison.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import median

from common import Options, Row, config, log, spread

GOAL_PCT = 10.0  # the digest may add at most this much to a save's or a load's median time


@contextlib.contextmanager
def _without_digest() -> Iterator[None]:
    from ganstudio.core.checkpoint import io as checkpoints

    seal, verify = checkpoints.seal, checkpoints._verify
    checkpoints.seal = lambda obj: obj
    checkpoints._verify = lambda obj, path: False
    try:
        yield
    finally:
        checkpoints.seal, checkpoints._verify = seal, verify


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _measure(name: str, cfg, folder: Path, rounds: int) -> dict[str, list[float]]:
    from ganstudio.core.checkpoint import digest as checkpoint_digest
    from ganstudio.core.checkpoint import io as checkpoints
    from ganstudio.core.train.trainer import Trainer

    trainer = Trainer(cfg)
    for _ in range(2):
        trainer.train_step()
    state = trainer.state_dict()
    folder.mkdir(parents=True, exist_ok=True)
    with_file, without_file = folder / f"{name}-digest.pt", folder / f"{name}-plain.pt"
    times: dict[str, list[float]] = {
        k: [] for k in ("save", "save0", "load", "load0", "digest", "crc", "sha")
    }
    checkpoint_digest.TENSOR_CHECKS["sha256"] = lambda b: int.from_bytes(hashlib.sha256(b).digest())

    def save(digest: bool) -> None:
        if digest:
            times["save"].append(_timed(lambda: checkpoints.save_atomic(state, with_file)))
        else:
            with _without_digest():
                times["save0"].append(_timed(lambda: checkpoints.save_atomic(state, without_file)))

    def load(digest: bool) -> None:
        if digest:
            times["load"].append(_timed(lambda: checkpoints.load(with_file)))
        else:
            with _without_digest():
                times["load0"].append(_timed(lambda: checkpoints.load(without_file)))

    save(True), save(False), load(True), load(False)  # warm-up: page cache, allocator, imports
    for k in times:
        times[k].clear()
    for r in range(rounds):
        for digest in (True, False) if r % 2 == 0 else (False, True):
            save(digest)
        for digest in (True, False) if r % 2 == 0 else (False, True):
            load(digest)
        times["digest"].append(_timed(lambda: checkpoints.content_digest(state)))
        times["crc"].append(_timed(lambda: checkpoints.content_digest(state, "crc32-sha256")))
        times["sha"].append(_timed(lambda: checkpoints.content_digest(state, "sha256")))
    mb = with_file.stat().st_size / 1e6
    log(
        f"checkpoint {name}: {mb:.1f} MB, save {median(times['save']) * 1e3:.1f} vs "
        f"{median(times['save0']) * 1e3:.1f} ms, load {median(times['load']) * 1e3:.1f} vs "
        f"{median(times['load0']) * 1e3:.1f} ms"
    )
    times["mb"] = [mb]
    return times


def _rows(ids: str, label: str, t: dict[str, list[float]]) -> list[Row]:
    """Rows 8<ids[0]> save, 8<ids[1]> load, 8<ids[2]> the digest alone."""
    rows = []
    for i, (kind, what) in enumerate((("save", "save_atomic"), ("load", "load"))):
        with_, without = median(t[kind]), median(t[kind + "0"])
        pct = 100.0 * (with_ - without) / without
        ratios = [a / b for a, b in zip(t[kind], t[kind + "0"], strict=True)]
        rows.append(
            Row(
                f"8{ids[i]}",
                f"Checkpoint {what}, {label} ({t['mb'][0]:.1f} MB): with digest vs without",
                f"{with_ * 1e3:.1f} vs {without * 1e3:.1f} ms ({pct:+.1f}%)",
                "with/without per round " + spread(ratios, unit="x"),
                f"<= +{GOAL_PCT:.0f}%",
                Row.judged(pct <= GOAL_PCT),
            )
        )
    mb = t["mb"][0]
    d, crc, sha = median(t["digest"]), median(t["crc"]), median(t["sha"])
    rows.append(
        Row(
            f"8{ids[2]}",
            f"Checkpoint digest alone (tensors by XXH3-128), {label}",
            f"{d * 1e3:.1f} ms ({mb / d:,.0f} MB/s); by CRC-32: {crc * 1e3:.1f} ms ({mb / crc:,.0f} "
            f"MB/s); by SHA-256: {sha * 1e3:.1f} ms ({mb / sha:,.0f} MB/s)",
            spread([x * 1e3 for x in t["digest"]], fmt="{:.1f}", unit=" ms"),
            "",
            "",
        )
    )
    return rows


def run(opts: Options) -> list[Row]:
    rounds = 3 if opts.quick else 15
    folder = Path(opts.tmp) / "checkpoints"
    digits = config("digits", **{"train.device": "cpu", "metrics.every": 0})
    dcgan = config(
        "digits", **{"train.device": "cpu", "metrics.every": 0, "model.arch": "dcgan", "data.image_size": 64}
    )
    rows = _rows("abc", "default digits mlp", _measure("digits", digits, folder, rounds))
    rows += _rows("def", "DCGAN 64x64", _measure("dcgan64", dcgan, folder, rounds))
    return rows
