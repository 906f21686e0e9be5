"""Names declared once: every column of the history table (and of trials.parquet's run
summaries and modes.parquet) and every loss. No torch, no Ray.

Config, study validation, the trainer, the run layer, the report and the command line all
read these tables; nothing else spells a metric or a loss name out as a list. Adding a
metric column is one `Column` line here plus the code that computes it (metrics/, the
trainer's `evaluate`); adding a loss is one `LossInfo` line here plus its pair of functions
in `losses.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["key", "metric", "target", "label", "run"]


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column of history.parquet (and of the final rows in trials.parquet)."""

    name: str
    meaning: str
    unit: str = ""  # "nats", "probability", "count", ... ("" where there is none)
    kind: ColumnKind = "metric"  # key: identifies the row; metric: measured per eval;
    # run: one value per (trial, replica) from its whole history (trials.parquet only)
    label: str = ""  # short header for terminal tables ("" = the name)
    # NaN unless the loss makes D's output a probability (a logit of P(real)).
    needs_probability: bool = False
    # NaN unless the target gives exact data masses over a partition (js_binned).
    needs_masses: bool = False
    # NaN (or meaningless) unless the target has discrete modes.
    needs_modes: bool = False
    # NaN unless G and D are one parameter each (model=dirac, the Dirac-GAN).
    needs_dirac: bool = False
    # NaN unless the target has a classifier whose features describe samples (images).
    needs_features: bool = False
    # NaN unless G generates for a requested label (conditional: true).
    needs_conditional: bool = False

    @property
    def header(self) -> str:
        return self.label or self.name


COLUMNS: tuple[Column, ...] = (
    Column(
        name="step", kind="key", meaning="iterations done at this evaluation (G steps at g_steps 1)"
    ),
    Column(name="replica", kind="key", label="rep", meaning="replica index within the trial"),
    Column(name="seed", kind="key", meaning="this replica's seed (the trial's seed + replica)"),
    # The three JS estimates (DESIGN.md): lower bounds of JS(p_data || p_g), side by side.
    Column(
        name="js_d",
        unit="nats",
        needs_probability=True,
        meaning="(V(D,G) + log 4)/2 with the trial's own D: a lower bound, tight for optimal D",
    ),
    Column(
        name="js_probe",
        unit="nats",
        meaning="log 2 - held-out cross-entropy of a fresh k-NN classifier of real vs fake",
    ),
    Column(
        name="js_binned",
        unit="nats",
        needs_masses=True,
        meaning="JS of the generated histogram against the target's exact cell masses",
    ),
    Column(
        name="d_real",
        label="D(x)",
        unit="probability",
        needs_probability=True,
        meaning="mean D(x) on held-out real data",
    ),
    Column(
        name="d_fake",
        label="D(G(z))",
        unit="probability",
        needs_probability=True,
        meaning="mean D(G(z)) on fresh fakes",
    ),
    Column(
        name="d_real_std",
        unit="probability",
        needs_probability=True,
        meaning="std of D(x) on real data",
    ),
    Column(
        name="d_fake_std",
        unit="probability",
        needs_probability=True,
        meaning="std of D(G(z)) on fakes",
    ),
    Column(name="critic_real", meaning="mean raw D output on real data (a logit or critic value)"),
    Column(name="critic_fake", meaning="mean raw D output on fakes (a logit or critic value)"),
    Column(name="loss_d", meaning="D's loss, mean over the D steps since the last eval"),
    Column(name="loss_g", meaning="G's loss, mean over the G steps since the last eval"),
    Column(
        name="grad_norm_d",
        label="|gD|",
        meaning="L2 norm of D's gradient on the last D step before the eval",
    ),
    Column(
        name="grad_norm_g",
        label="|gG|",
        meaning="L2 norm of G's gradient on the last G step before the eval",
    ),
    Column(
        name="modes_captured",
        label="modes",
        unit="count",
        needs_modes=True,
        meaning="modes holding >= coverage_min_count high-quality samples (VEEGAN)",
    ),
    Column(
        name="high_quality_frac",
        label="hq",
        needs_modes=True,
        meaning="fraction of samples within quality_sigmas stds of their nearest mode",
    ),
    Column(
        name="mode_kl",
        unit="nats",
        needs_modes=True,
        meaning="KL(high-quality mode histogram || uniform); NaN without high-quality samples",
    ),
    Column(
        name="class_accuracy",
        unit="fraction",
        needs_conditional=True,
        meaning="samples whose assigned mode (classifier or nearest mode) is the label G "
        "was asked for",
    ),
    # The Dirac-GAN (model=dirac, target=dirac): the players' parameters and the distance
    # to the game's equilibrium (0, 0), Mescheder, Geiger & Nowozin 2018.
    Column(name="theta", needs_dirac=True, meaning="the Dirac-GAN's G parameter: p_g = δ_θ"),
    Column(name="psi", needs_dirac=True, meaning="the Dirac-GAN's D parameter: D(x) = ψ·x"),
    Column(
        name="dirac_distance",
        needs_dirac=True,
        meaning="sqrt(θ² + ψ²): the Dirac-GAN's distance to its equilibrium (0, 0)",
    ),
    # Image metrics in the target's classifier's feature space (targets/images.py): the
    # penultimate layer of MNIST's MLP, the logits of digits' softmax regression.
    Column(
        name="fd",
        needs_features=True,
        meaning="Fréchet distance of Gaussian fits of real and generated classifier features "
        "(FID's formula, not Inception's features)",
    ),
    Column(
        name="precision",
        unit="fraction",
        needs_features=True,
        meaning="generated samples inside the real k-NN feature manifold (Kynkäänniemi 2019)",
    ),
    Column(
        name="recall",
        unit="fraction",
        needs_features=True,
        meaning="real samples inside the generated k-NN feature manifold (Kynkäänniemi 2019)",
    ),
    Column(name="n_modes", kind="target", unit="count", meaning="modes the target has"),
    Column(name="outcome", kind="label", meaning="outcome label so far (metrics.OUTCOMES)"),
)
# Columns of trials.parquet beyond the final history row: read off a run's whole history
# (results.collapse_onset computes this one).
RUN_COLUMNS: tuple[Column, ...] = (
    Column(
        name="collapse_onset",
        kind="run",
        unit="step",
        needs_modes=True,
        meaning="first eval step s from which modes_captured stays below its maximum before "
        "s at every eval to the end (the eval after the last one at the run's peak); NaN if "
        "the last eval is at the peak (no collapse), NaN evals (diverged) left out",
    ),
)
# modes.parquet: one row per (trial_id, replica, step, mode) with a nonzero count. Only
# nonzero counts are stored (a missing row is 0, which keeps a 1,000-mode stacked target's
# table small); a diverged replica has no rows at that step.
OCCUPANCY_COLUMNS: tuple[Column, ...] = (
    Column(name="mode", kind="key", meaning="the mode's index (Target.assign_modes), from 0"),
    Column(
        name="count",
        unit="count",
        needs_modes=True,
        meaning="high-quality samples of the coverage_samples in this mode, the count "
        "modes_captured thresholds at coverage_min_count; a low-quality sample counts nowhere",
    ),
)
BY_NAME: dict[str, Column] = {c.name: c for c in (*COLUMNS, *RUN_COLUMNS, *OCCUPANCY_COLUMNS)}

# The numbers measured at every eval, in table order (a study's `metric` is one of these).
METRIC_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "metric")
PROBABILITY_METRICS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.needs_probability)
JS_COLUMNS: tuple[str, ...] = ("js_binned", "js_d", "js_probe")  # the reference first


def why_nan(name: str) -> str:
    """Why a column can hold no values in a study (for report notes)."""
    column = BY_NAME.get(name)
    if column is not None and column.needs_probability:
        return "this loss's D has no probability output"
    if column is not None and column.needs_masses:
        return "the target has no known density"
    if column is not None and column.needs_modes:
        return "the target has no discrete modes"
    if column is not None and column.needs_dirac:
        return "only model=dirac has one parameter per player"
    if column is not None and column.needs_conditional:
        return "only conditional: true runs generate for a requested label"
    if column is not None and column.needs_features:
        return "the target has no classifier features (image targets only)"
    return "no values recorded"


@dataclass(frozen=True, kw_only=True)
class LossInfo:
    """One loss formulation as users name it; its functions are in losses.py."""

    name: str
    probability: bool  # D's output is a logit of P(real): D(x) = sigmoid(output)
    meaning: str
    clip_weights: bool = False  # D's weights clipped to [-clip, clip] after each D step
    gradient_penalty: bool = False  # D's loss adds gp_weight * (||grad D(x_hat)|| - 1)^2


LOSSES: tuple[LossInfo, ...] = (
    LossInfo(name="minimax", probability=True, meaning="the paper's saturating log(1 - D(G(z)))"),
    LossInfo(name="nonsaturating", probability=True, meaning="the paper's fix: -log D(G(z))"),
    LossInfo(
        name="wasserstein",
        probability=False,
        meaning="WGAN critic, weight clipping `clip`",
        clip_weights=True,
    ),
    LossInfo(
        name="wgan_gp",
        probability=False,
        meaning="WGAN critic, gradient penalty",
        gradient_penalty=True,
    ),
    LossInfo(name="hinge", probability=False, meaning="hinge D loss, -D(G(z)) for G"),
    LossInfo(name="least_squares", probability=False, meaning="LSGAN, targets 0 and 1"),
)
LOSS_NAMES: tuple[str, ...] = tuple(loss.name for loss in LOSSES)  # also the report's order
PROBABILITY_LOSSES: tuple[str, ...] = tuple(loss.name for loss in LOSSES if loss.probability)
PENALTY_LOSSES: tuple[str, ...] = tuple(loss.name for loss in LOSSES if loss.gradient_penalty)


# The `outcome` labels (metrics.classify_outcome gives them; thresholds in
# metrics.OUTCOME_THRESHOLDS, documented in the README), from the best to the most severe:
# legends list them in this order, and the report's majority vote breaks a tie toward the
# later one (a cell that failed in half of its replicas is not a region of balance).
OUTCOMES: tuple[str, ...] = (
    "converged",
    "not_converged",
    "oscillating",
    "mode_collapse",
    "not_fitted",
    "d_dominates",
    "diverged",
)

# The `status` column of trials.parquet: ganstudy's own names (not Ray's), one per
# (configuration, replica). Only "finished" rows ran all their steps.
STATUSES: dict[str, str] = {
    "finished": "trained all its steps",
    "stopped": "stopped on purpose by the scheduler (ASHA) before its last step",
    "error": "crashed and used up its retries (max_failures); see the error column",
    "interrupted": "the run was interrupted while it trained; --resume continues it",
    "pending": "never started: the run was interrupted first; --resume runs it",
}
FINISHED = "finished"
# Statuses of a run the study has not done yet (an interrupted run): --resume trains them.
RESUMABLE: tuple[str, ...] = ("interrupted", "pending")
