"""The sections of a study file besides its params: resources, search, scheduler (frozen
plain data), the limits of a study, and how each section is read from the file's mapping
(section, parse_search, parse_scheduler, parse_fuse). spec.py parses the whole file with
them; every problem is fail(key path, message)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal

from ganstudy.config import (
    FIELDS,
    HINTS,
    ConfigError,
    Range,
    TrialConfig,
    accepted,
)
from ganstudy.conversion import convert, did_you_mean
from ganstudy.messages import clip_middle, shown, shown_key

Fail = typing.Callable[[str, str], typing.NoReturn]  # raise SpecError(source, key path, message)

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


def parse_search(
    data: Any, dimensions: dict[str, Any], where: typing.Callable[[str], str], fail: Fail
) -> Search:
    """The `search:` section, checked against the kinds of the study's dimensions (spec's
    Dimension by key): grid takes only grids, optuna none."""
    given = data if isinstance(data, dict) else {}
    search = section(Search, data, "search", fail)
    if search.algorithm != "grid" and "num_samples" not in given:
        fail("search.num_samples", f"{search.algorithm} needs num_samples (how many trials)")
    in_range("search.num_samples", search.num_samples, fail)
    kinds = {key: dim.kind for key, dim in dimensions.items()}
    if search.algorithm == "grid":
        for key, kind in kinds.items():
            if kind != "grid":
                fail(
                    where(key),
                    f"{kind} is sampled, but search.algorithm is grid; make it {{grid: [...]}} "
                    "or use algorithm: random with num_samples",
                )
    if search.algorithm == "optuna":
        for key, kind in kinds.items():
            if kind == "grid":
                fail(
                    where(key),
                    "optuna cannot take a grid; use {choice: [...]} (or algorithm: grid/random)",
                )
    return search


def parse_scheduler(
    data: Any,
    fixed: dict[str, Any],
    dimensions: dict[str, Any],
    search: Search,
    where: typing.Callable[[str], str],
    fail: Fail,
) -> Scheduler:
    """The `scheduler:` section (fifo when absent): ASHA's and PBT's defaults in steps, and
    PBT's mutable settings checked against the study's params."""
    data = {"name": "fifo"} if data is None else data
    if not isinstance(data, dict):
        fail("scheduler", "must be a mapping, e.g. {name: asha, grace_period: 2000}")
    name = data.get("name")
    if not isinstance(name, str) or name not in SCHEDULERS:
        fail("scheduler.name", f"got {shown(name)}; expected one of {', '.join(SCHEDULERS)}")
    if name == "fifo":
        return section(FifoScheduler, data, "scheduler", fail)
    # ASHA's max_t and PBT's interval are in steps, counted in reports of eval_every steps.
    for key in ("steps", "eval_every"):
        if key in dimensions:
            fail(where(key), f"{name} needs a fixed {key} (it sets the scheduler's time)")
    steps, eval_every = fixed["steps"], fixed["eval_every"]
    data = dict(data)
    if name == "asha":
        # Default: a quarter of training, so no trial is cut in the noisy early phase of GANs.
        data.setdefault("grace_period", max(eval_every, steps // 4 // eval_every * eval_every))
        sched = section(AshaScheduler, data, "scheduler", fail)
        _check_interval("scheduler.grace_period", sched.grace_period, eval_every, steps, fail)
        in_range("scheduler.reduction_factor", sched.reduction_factor, fail)
        return sched
    # pbt. Default: perturb ten times per run, at evaluations (the only checkpoints).
    interval = max(eval_every, steps // 10 // eval_every * eval_every)
    data.setdefault("perturbation_interval", interval)
    sched = section(PbtScheduler, data, "scheduler", fail)
    path = "scheduler.perturbation_interval"
    _check_interval(path, sched.perturbation_interval, eval_every, steps, fail)
    if search.algorithm == "optuna":
        fail("search.algorithm", "pbt cannot run under optuna (Ray forbids it); use grid or random")
    in_range("scheduler.quantile_fraction", sched.quantile_fraction, fail)
    in_range("scheduler.resample_probability", sched.resample_probability, fail)
    if not sched.mutable:
        fail("scheduler.mutable", "lists nothing to mutate; name float params, e.g. [lr_d, lr_g]")
    for key in sched.mutable:
        if key not in FIELDS:
            fail(
                "scheduler.mutable",
                f"unknown param {shown(key)}; " + did_you_mean(key, list(FIELDS)),
            )
        types = typing.get_args(HINTS[key]) or (HINTS[key],)
        if float not in types:
            message = f"{key} takes {accepted(key)}; pbt scales float params only"
            fail("scheduler.mutable", message)
        kind = dimensions[key].kind if key in dimensions else None
        if kind not in ("uniform", "loguniform", "choice"):
            got = "a grid" if kind == "grid" else f"fixed at {fixed[key]}"
            fail(
                where(key),
                f"pbt mutates {key} but it is {got}; give a range, e.g. {{loguniform: [lo, hi]}}, "
                "or drop it from scheduler.mutable",
            )
        if kind != "choice" and not _valid(key, dimensions[key].args[1] * 1000):
            # PBT multiplies a range-sampled value by 1.2 or 0.8, unbounded, so after a few
            # perturbations a value capped by TrialConfig (beta1 < 1) would break the trial.
            fail(
                where(key),
                f"pbt multiplies {key} by 1.2 or 0.8 without bound, which takes it out of its "
                "range; give it as {choice: [...]} (pbt then moves along the list)",
            )
    return sched


def _valid(key: str, value: Any) -> bool:
    try:
        TrialConfig(**{key: value})
    except ConfigError:
        return False
    return True


def _check_interval(path: str, value: int, eval_every: int, steps: int, fail) -> None:
    if not eval_every <= value <= steps or value % eval_every:
        fail(
            path,
            f"got {shown(value)}; must be a multiple of eval_every ({eval_every}) up to steps "
            f"({steps}): trials report and checkpoint only at evaluations",
        )


def section(cls: type, data: Any, path: str, fail: Fail) -> Any:
    """Build a small frozen dataclass from a mapping, checking keys and types by its hints."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        fail(path, f"must be a mapping of {', '.join(f.name for f in dataclasses.fields(cls))}")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in hints:
            fail(f"{path}.{shown_key(key)}", "unknown key; " + did_you_mean(str(key), list(hints)))
        values[key] = typed(value, hints[key], f"{path}.{key}", fail)
        if f"{path}.{key}" in STUDY_LIMITS and values[key] is not None:
            in_range(f"{path}.{key}", values[key], fail)
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.name not in values
    ]
    if missing:
        fail(f"{path}.{missing[0]}", "missing; it has no default")
    return cls(**values)


def typed(value: Any, hint: Any, path: str, fail: Fail) -> Any:
    """conversion.convert, its error as fail(path, ...)."""
    try:
        return convert(value, hint)
    except ValueError as error:
        fail(path, str(error))


def parse_fuse(value: Any, fail: Fail) -> str:
    """fuse: auto or off (the default). YAML 1.1 reads an unquoted `off` (the README's
    spelling), `false` or `no` as false: each means off. True (`on`, `yes`, `true`) names
    neither choice and is refused."""
    if value is None or value is False:
        return "off"
    if value is True:
        fail("fuse", "got true (YAML reads on, yes and true so); expected auto or off")
    if value not in typing.get_args(Fuse):
        fail("fuse", f"got {shown(value)}; expected auto or off")
    return value


def in_range(path: str, value: float, fail: Fail) -> None:
    """fail(path, ...) unless value is inside STUDY_LIMITS[path]."""
    try:
        STUDY_LIMITS[path].check(path, value, integer=isinstance(value, int))
    except ConfigError as e:
        fail(path, e.message)


def check_fuse(search: Search, scheduler: Scheduler, fail: Fail) -> None:
    """fuse: auto only where every configuration runs to the end on its own points."""
    if search.algorithm == "optuna":
        fail(
            "fuse",
            "auto cannot run under optuna: it asks for the next point after each result, and a "
            "fused trial reports its members together; use fuse: off (or algorithm: grid/random)",
        )
    if isinstance(scheduler, (AshaScheduler, PbtScheduler)):
        what = (
            "stops single trials early"
            if scheduler.name == "asha"
            else ("copies one trial's weights into another")
        )
        fail(
            "fuse",
            f"auto cannot run under {scheduler.name}: it {what}, and a fused trial would stop "
            "or copy all its members together; use fuse: off (or scheduler: fifo)",
        )
