"""The text table `ganstudy trial` prints: a summary line of the settings, then one line per
eval row and replica (columns and their short headers from columns.py)."""

from __future__ import annotations

import dataclasses
import math

from ganstudy.columns import BY_NAME
from ganstudy.config import FAMILY_RULES, IMAGE_SHAPES, TrialConfig

# Settings the summary line names where they are not Algorithm 1's defaults: the schedule,
# the remedies and conditioning.
EXTRAS = (
    ("updates", "alternating"),
    ("g_steps", 1),
    ("pack", 1),
    ("unroll", 0),
    ("conditional", False),
)


def describe(config: TrialConfig) -> str:
    """The one-line summary of a trial's settings `ganstudy trial` prints first."""
    c = config
    nets = FAMILY_RULES[c.model].nets.format(**dataclasses.asdict(c))
    extras = [f"{key}={getattr(c, key)}" for key, plain in EXTRAS if getattr(c, key) != plain]
    return (
        f"{c.target}: loss={c.loss} k={c.k} {' '.join(extras + [''])}lr_d={c.lr_d:g} "
        f"lr_g={c.lr_g:g} {c.optimizer} {nets} batch={c.batch_size} "
        f"steps={c.steps} replicas={c.replicas} seed={c.seed}"
    )


# The columns `ganstudy trial` prints, (name, width, format); headers from columns.py.
# D(x), D(G(z)) are probabilities; critic losses show '-'.
_SHOWN = [
    ("step", 7, "d"),
    ("replica", 3, "d"),
    ("d_real", 6, ".3f"),
    ("d_fake", 7, ".3f"),
    ("js_binned", 9, ".3f"),
    ("js_d", 6, ".3f"),
    ("js_probe", 8, ".3f"),
    ("modes_captured", 5, ".0f"),
    ("high_quality_frac", 5, ".2f"),
    ("grad_norm_d", 8, ".3g"),
    ("grad_norm_g", 8, ".3g"),
    ("outcome", 13, "s"),
]


# The Dirac-GAN's trajectory replaces the probability and mode columns (one mode, one point).
_SHOWN_DIRAC = [
    *_SHOWN[:2],
    ("theta", 9, ".4g"),
    ("psi", 9, ".4g"),
    ("dirac_distance", 14, ".4g"),
    *_SHOWN[4:5],
    *_SHOWN[-3:],
]


# Image targets add the classifier-feature metrics (NaN on the toys) before the gradients.
_SHOWN_IMAGES = [*_SHOWN[:-3], ("fd", 7, ".3g"), ("precision", 9, ".2f"), ("recall", 6, ".2f")]
_SHOWN_IMAGES += _SHOWN[-3:]


def shown_columns(config: TrialConfig) -> list[tuple[str, int, str]]:
    """The columns for this trial's model and target (and class_accuracy if conditional)."""
    if FAMILY_RULES[config.model].scalar_players:
        return _SHOWN_DIRAC
    columns = _SHOWN_IMAGES if config.target in IMAGE_SHAPES else _SHOWN
    if config.conditional:
        columns = [*columns[:-3], ("class_accuracy", 6, ".2f"), *columns[-3:]]
    return columns


def header(config: TrialConfig) -> str:
    """The table's header line: columns.py's short headers, right-aligned."""
    return " ".join(f"{BY_NAME[name].header:>{width}}" for name, width, _ in shown_columns(config))


def format_row(row: dict, config: TrialConfig) -> str:
    """One history row as a table line; NaN (not defined here) shows as '-'."""
    cells = []
    for key, width, fmt in shown_columns(config):
        value = row[key]
        if isinstance(value, float) and math.isnan(value):
            cells.append(f"{'-':>{width}}")
        else:
            cells.append(f"{value:>{width}{fmt}}")
    return " ".join(cells)


def json_number(value: object) -> object:
    # JSON has no NaN; null says "not defined here" (e.g. js_d for a critic loss).
    return None if isinstance(value, float) and not math.isfinite(value) else value


def summary(
    final_rows: list[dict], config: TrialConfig, *, seconds: float, threads: int, table: bool
) -> list[str]:
    """The lines `ganstudy trial` ends with: steps, time and speed, each replica's outcome,
    and (`table`: when the rows were not printed as a table above) the last eval's row of
    each replica, its final metrics, under the table's header."""
    c = config
    rate = c.steps / seconds if seconds > 0 else math.inf
    thread_word = "thread" if threads == 1 else "threads"
    outcomes = ", ".join(f"replica {row['replica']} {row['outcome']}" for row in final_rows)
    return [
        f"done: {c.steps} steps x {c.replicas} replicas in {_clock(seconds)}, "
        f"{rate:.3g} steps/s with evals, {threads} torch {thread_word}",
        f"outcome: {outcomes}",
        *([header(config), *(format_row(row, config) for row in final_rows)] if table else []),
    ]


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
