"""The README's figure for "Stabilising a GAN": ring8-minimax without and with R1, from real runs.

    python benchmarks/figure_r1.py [--out resources/figure-r1-ring8.png] [--seed 0]

Trains both presets headless (3,000 steps each, one thread, about a minute in all) into a
temporary folder, then lays out their own sample pictures (samples/step-*.png, as the run folder
keeps them) at three steps, each labelled with the run's logged modes_covered at that step.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganstudio.core.run.folder import RunFolder  # noqa: E402
from ganstudio.core.run.log import read_metrics  # noqa: E402

ROWS = (
    ("ring8-minimax", "loss.kind = minimax,\nno penalty"),
    ("ring8-minimax-r1", "the same game,\nloss.r1 = 0.1"),
)
STEPS = (400, 1000, 3000)
SIDE, PAD, LEFT, TOP = 260, 12, 210, 40


def train(preset: str, folder: Path, seed: int) -> RunFolder:
    cmd = [sys.executable, "-m", "ganstudio", "train", "--preset", preset, "--run-dir", str(folder)]
    cmd += ["--set", f"train.seed={seed}", "--set", "train.threads=1", "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return RunFolder(folder)


def modes_at(run: RunFolder) -> dict[int, int]:
    lines = read_metrics(run.path / "metrics.jsonl")
    return {int(d["step"]): int(d["modes_covered"]) for d in lines if d.get("modes_covered") is not None}


def compose(runs: dict[str, RunFolder], out: Path) -> None:
    width = LEFT + len(STEPS) * (SIDE + PAD) + PAD
    height = TOP + len(ROWS) * (SIDE + PAD) + PAD
    fig = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(fig)
    small, big = ImageFont.load_default(size=17), ImageFont.load_default(size=18)
    for j, step in enumerate(STEPS):
        x = LEFT + j * (SIDE + PAD) + SIDE // 2
        draw.text((x, TOP // 2), f"step {step:,}", font=big, fill="black", anchor="mm")
    for i, (preset, label) in enumerate(ROWS):
        run, y = runs[preset], TOP + i * (SIDE + PAD)
        covered = modes_at(run)
        draw.text((PAD, y + SIDE // 2 - 22), preset, font=big, fill="black")
        draw.text((PAD, y + SIDE // 2 + 4), label, font=small, fill="#444444")
        for j, step in enumerate(STEPS):
            picture = Image.open(run.sample_path(step)).convert("RGB").resize((SIDE, SIDE), Image.LANCZOS)
            x = LEFT + j * (SIDE + PAD)
            fig.paste(picture, (x, y))
            draw.rectangle([x, y, x + SIDE - 1, y + SIDE - 1], outline="#cccccc")
            n = covered.get(step)
            colour = "#1f77b4" if n == 8 else "#d62728"
            draw.text((x + 8, y + SIDE - 26), f"{n}/8 modes", font=small, fill=colour)
    fig.save(out, optimize=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "resources" / "figure-r1-ring8.png")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {preset: train(preset, Path(tmp) / preset, args.seed) for preset, _ in ROWS}
        compose(runs, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
