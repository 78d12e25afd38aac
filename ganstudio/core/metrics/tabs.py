"""The plot tabs, declared beside the metrics they draw: which History keys each tab plots, with
their legend labels. Plain data, without torch or Qt: the plots panel builds one tab per entry,
and a new stat or metric gets its curve by being named here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlotTab:
    """`series`: (History key, legend label) pairs. `smooth`: follows the smoothing slider (a learning
    rate is set, not measured: a smoothed curve would only blur the moment it changed). `bands`: sparse,
    uncertain values (quality metrics): a dot at each point and a band of +/- "<key>_std".
    `groups`: (key prefix, group name, colour ramp) for series found as they appear, such as one per
    layer; the ramp's name is the plots panel's ("blues", "oranges")."""

    title: str
    series: tuple[tuple[str, str], ...]
    y_label: str
    smooth: bool = True
    bands: bool = False
    groups: tuple[tuple[str, str, str], ...] = ()
    rest: bool = False  # every History key no other tab draws (a loop of yours logs its own names)


TABS = (
    PlotTab("Losses", (("loss_d", "D loss"), ("loss_g", "G loss")), "loss"),
    PlotTab("D outputs", (("d_real", "D(x)"), ("d_fake", "D(G(z))")), "D output"),
    PlotTab("Gradients", (("grad_d", "‖∇D‖"), ("grad_g", "‖∇G‖")), "gradient norm"),
    PlotTab("Learning rates", (("lr_d", "lr D"), ("lr_g", "lr G")), "learning rate", smooth=False),
    # Quality metrics arrive every metrics.every steps with a bootstrap std: dots and bands.
    PlotTab(
        "Coverage",
        (("modes_covered", "modes covered"), ("classes_covered", "classes covered")),
        "count",
        bands=True,
    ),
    PlotTab(
        "Precision/recall",
        (
            ("precision", "precision"),
            ("recall", "recall"),
            ("density", "density"),
            ("coverage", "coverage"),
            ("high_quality", "high-quality share"),
            ("class_match", "asked class share"),
        ),
        "score",
        bands=True,
    ),
    # Two Fréchet distances: in the classifier's (or projection's) features, and metrics.inception's
    # FID in TF-Inception's, the number papers report.
    PlotTab("FD", (("fd", "FD (classifier)"), ("fid_inception", "FID (Inception)")), "FD", bands=True),
    # D on training reals, reals it never trained on (data.holdout) and fakes: when the first two
    # part, D is memorising (the d_overfit alert); r_t is StyleGAN2-ADA's heuristic, and the
    # augmentation's chance p (data.augment) is what ADA's rule raises while r_t is above 0.6.
    PlotTab(
        "Overfitting",
        (
            ("holdout_acc_train", "D accuracy: training reals"),
            ("holdout_acc_heldout", "held-out reals"),
            ("holdout_acc_fake", "fakes"),
            ("d_overfit_rt", "r_t"),
            ("augment_p", "augmentation p"),
        ),
        "accuracy / r_t / p",
    ),
    PlotTab(
        "Layer gradients",
        (),
        "gradient norm",
        smooth=False,
        groups=(("grad_G.", "G layers", "blues"), ("grad_D.", "D layers", "oranges")),
    ),
    # Each process's use of its machine (the run's "system" lines, log.system_every): one line per
    # rank per reading, labelled by rank ("rank0"); CPU % is of one core (two busy threads: 200).
    PlotTab(
        "System",
        (),
        "% / MB",
        smooth=False,
        groups=(
            ("system.cpu_percent.", "CPU %", "blues"),
            ("system.rss_mb.", "memory (MB)", "oranges"),
            ("system.gpu_util.", "GPU %", "greens"),
            ("system.gpu_mem_mb.", "GPU memory (MB)", "purples"),
            ("system.gpu_mem_reserved_mb.", "GPU reserved (MB)", "greys"),
        ),
    ),
    # What your own loop logs under names of its own (ganstudio.init(...).log(step, my_loss=...)):
    # shown only while there is any.
    PlotTab("Logged", (), "value", rest=True),
)

#: Keys the trainer logs that no tab draws, on purpose: rates are in the status bar, and the D
#: outputs on held-out reals stand behind the Overfitting tab's accuracies.
UNPLOTTED = frozenset(
    {"steps_per_s", "images_per_s", "holdout_d_fake", "holdout_d_heldout", "holdout_d_train", "epoch"}
)


def rest_keys(keys) -> list[str]:
    """Of History `keys`, those no tab draws (by name or by a group's prefix), sorted: the rest
    tab's series. A metric's "<key>_std" belongs to its key."""
    named = {key for tab in TABS for key, _ in tab.series}
    prefixes = tuple(prefix for tab in TABS for prefix, _, _ in tab.groups)
    return sorted(
        k
        for k in keys
        if k not in named and k not in UNPLOTTED and not k.endswith("_std") and not k.startswith(prefixes)
    )
