"""The sections of a study file besides its params: resources, search, scheduler (frozen
plain data), and the limits of a study. spec.py parses a study file into them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ganstudy.config import Range
from ganstudy.messages import clip_middle

SearchAlgorithm = Literal["grid", "random", "optuna"]
Fuse = Literal["auto", "off"]
# fuse_max's default: enough members to fill a device's width on small models, few enough
# that one slow member does not hold up many (a group's wall_s is its slowest member's).
DEFAULT_FUSE_MAX = 8

# Limits of a study, each with what it protects. The ranges of the trial parameters are
# config.LIMITS (and config.MEMORY_LIMIT_BYTES); what a file may be, yamlfile.MAX_*.
# Ray Tune holds every trial in the driver and its experiment state: a grid beyond this is
# a mistake (a forgotten dimension), not a study; above WARN_TRIALS `validate` and `run` warn.
MAX_TRIALS = 100_000
WARN_TRIALS = 10_000
STUDY_LIMITS: dict[str, Range] = {
    "resources.cpu": Range(0.0, 1024.0, why="a trial runs on one node"),
    # The trainer puts a trial's replicas on one device: a second GPU would sit idle.
    "resources.gpu": Range(0.0, 1.0, why="a trial trains on one GPU; use a fraction to share one"),
    "max_concurrent": Range(1, MAX_TRIALS, why="the most trials a study may have"),
    "max_failures": Range(0, 1000, why="retries of one crashed trial"),
    # A fused trial holds fuse_max x replicas replicas in one model (and memory).
    "fuse_max": Range(1, 1024, why="configurations in one fused trial (one model in memory)"),
    "search.num_samples": Range(1, MAX_TRIALS, why="the most trials a study may have"),
    "scheduler.reduction_factor": Range(1.0, 1000.0, lo_open=True),
    "scheduler.quantile_fraction": Range(0.0, 0.5),
    "scheduler.resample_probability": Range(0.0, 1.0),
}


@dataclass(frozen=True, kw_only=True)
class Resources:
    """Per-trial resources; fractions let several trials share a GPU."""

    cpu: float = 1.0
    gpu: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Search:
    """How configurations are chosen; grid and random are Ray's BasicVariantGenerator."""

    algorithm: SearchAlgorithm = "grid"
    num_samples: int = 1  # grid: repeats of the whole grid; random/optuna: trials (required)


@dataclass(frozen=True, kw_only=True)
class FifoScheduler:
    """Run every trial to the end."""

    name: Literal["fifo"] = "fifo"


@dataclass(frozen=True, kw_only=True)
class AshaScheduler:
    """Asynchronous successive halving; times in G steps (the runner converts to reports)."""

    name: Literal["asha"] = "asha"
    grace_period: int  # steps every trial runs before it can be stopped
    reduction_factor: float = 4.0  # Ray's default


@dataclass(frozen=True, kw_only=True)
class PbtScheduler:
    """Population-based training: exploit/explore the `mutable` params at checkpoints."""

    name: Literal["pbt"] = "pbt"
    perturbation_interval: int  # steps between perturbations; a multiple of eval_every
    mutable: tuple[str, ...] = ("lr_d", "lr_g")
    quantile_fraction: float = 0.25  # Ray's default
    resample_probability: float = 0.25  # Ray's default
    # false (Ray's default): a trial is compared with the others' latest results when it
    # reports; true: the population waits at each interval and its bottom quantile exploits
    # then (the generations of Jaderberg et al. 2017; every interval has its exploits).
    synchronous: bool = False


Scheduler = FifoScheduler | AshaScheduler | PbtScheduler
SCHEDULERS: dict[str, type] = {"fifo": FifoScheduler, "asha": AshaScheduler, "pbt": PbtScheduler}


def size_warning(spec: Any) -> str | None:
    """A warning for a StudySpec of more than WARN_TRIALS trials (above MAX_TRIALS: refused)."""
    trials = spec.num_trials()
    if trials <= WARN_TRIALS:
        return None
    return (
        f"{clip_middle(spec.source)}: {trials:,} trials is a very large study (warned above "
        f"{WARN_TRIALS:,}, refused above {MAX_TRIALS:,}); check the grids, or sample them "
        "(algorithm: random, num_samples)"
    )


def max_concurrent_error(value: int | None) -> str:
    """What is wrong with a --max-concurrent value ("" when nothing): the study file's own
    range for max_concurrent (a huge one is no study)."""
    if value is None:
        return ""
    if value < 1:
        return "--max-concurrent: must be >= 1"
    if value > MAX_TRIALS:
        return f"--max-concurrent: must be <= {MAX_TRIALS:,} (the most trials a study may have)"
    return ""
