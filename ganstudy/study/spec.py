"""Study files: YAML -> validated, frozen StudySpec (plain data; run/tuner.py makes it Ray's).

A study file names the trial parameters (every `TrialConfig` field, fixed or a search
dimension), how to search them and how to schedule the trials. Everything is checked here,
once, at load; each problem is one `SpecError` line naming the file, the key path and the fix.
Past this module nobody re-checks a study.

The search-space DSL maps one-to-one onto Ray Tune's own API, with Ray's semantics:

    {grid: [a, b]}          tune.grid_search([a, b])   every value, crossed with other grids
    {choice: [a, b]}        tune.choice([a, b])
    {uniform: [lo, hi]}     tune.uniform(lo, hi)
    {loguniform: [lo, hi]}  tune.loguniform(lo, hi)
    {randint: [lo, hi]}     tune.randint(lo, hi)       lo inclusive, hi exclusive (as Ray)
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from ganstudy.columns import METRIC_COLUMNS, PROBABILITY_LOSSES, PROBABILITY_METRICS
from ganstudy.config import (
    FIELDS,
    HINTS,
    LIMITS,
    ConfigError,
    TrialConfig,
    accepted,
    coerce,
    to_dict,
    unknown_key_error,
)
from ganstudy.conversion import did_you_mean
from ganstudy.messages import clip_middle, shown, shown_key
from ganstudy.study.study_sections import (  # noqa: F401 (spec's API still)
    DEFAULT_FUSE_MAX,
    MAX_TRIALS,
    SCHEDULERS,
    STUDY_LIMITS,
    WARN_TRIALS,
    AshaScheduler,
    Fail,
    FifoScheduler,
    Fuse,
    PbtScheduler,
    Resources,
    Scheduler,
    Search,
    check_fuse,
    in_range,
    parse_fuse,
    parse_scheduler,
    parse_search,
    section,
    size_warning,
    typed,
)
from ganstudy.yamlfile import YamlFileError, quote_hint, read_yaml

DimensionKind = Literal["grid", "choice", "uniform", "loguniform", "randint"]
Mode = Literal["min", "max"]

# TrialConfig fields that may also stand at the top level of a study file.
TOP_LEVEL_PARAMS = ("target", "model", "steps", "eval_every", "replicas", "seed")
MAX_NAME_CHARS = 100  # a study's name is its folder's: well inside any file system's 255
_SAFE_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_NAME_CHARS - 1}}}")


class SpecError(ValueError):
    """A study file is invalid; str() is one line: `file: key.path: problem; fix`."""

    def __init__(self, source: str, path: str, message: str):
        self.source, self.path, self.message = source, path, message
        where = clip_middle(source)  # the file's path as given: any length
        super().__init__(f"{where}: {path}: {message}" if path else f"{where}: {message}")

    def __reduce__(self):  # picklable (e.g. across processes) despite the 3-argument init
        return SpecError, (self.source, self.path, self.message)


@dataclass(frozen=True, kw_only=True)
class Dimension:
    """One search dimension: `kind` and its values (grid/choice) or bounds (lo, hi)."""

    kind: DimensionKind
    args: tuple

    def to_plain(self) -> dict[str, list]:
        return {self.kind: list(self.args)}


@dataclass(frozen=True, kw_only=True)
class StudySpec:
    """A validated study. `fixed` holds every TrialConfig field that is not a dimension
    (defaults resolved at load, so the spec pins the exact settings it ran with);
    `dimensions` the searched ones."""

    name: str
    metric: str
    mode: Mode
    resources: Resources = Resources()
    max_concurrent: int | None = None  # None: as many as the resources allow
    max_failures: int = 2
    fuse: Fuse = "off"  # auto: configurations sharing every shape setting train as one trial
    fuse_max: int = DEFAULT_FUSE_MAX  # the most configurations in one fused trial
    storage: str | None = None  # where study folders go on a cluster: shared path or URI
    search: Search = Search()
    scheduler: Scheduler = FifoScheduler()
    fixed: dict[str, Any]
    dimensions: dict[str, Dimension]
    source: str = field(default="<dict>", compare=False)

    def num_trials(self) -> int:
        """Trials Ray Tune will run: num_samples x the product of the grid sizes."""
        grids = [len(d.args) for d in self.dimensions.values() if d.kind == "grid"]
        return self.search.num_samples * math.prod(grids)

    def to_dict(self) -> dict[str, Any]:
        """The resolved study as plain data; `spec_from_dict(spec.to_dict()) == spec`."""

        def param(key: str) -> Any:
            return self.dimensions[key].to_plain() if key in self.dimensions else self.fixed[key]

        out: dict[str, Any] = {"name": self.name}
        out.update({key: param(key) for key in TOP_LEVEL_PARAMS})
        out.update(
            metric=self.metric,
            mode=self.mode,
            resources=dataclasses.asdict(self.resources),
            max_concurrent=self.max_concurrent,
            max_failures=self.max_failures,
            fuse=self.fuse,
            fuse_max=self.fuse_max,
            storage=self.storage,
            search=dataclasses.asdict(self.search),
            scheduler=dataclasses.asdict(self.scheduler),
            params={key: param(key) for key in FIELDS if key not in TOP_LEVEL_PARAMS},
        )
        if isinstance(self.scheduler, PbtScheduler):
            out["scheduler"]["mutable"] = list(self.scheduler.mutable)
        return out

    def to_yaml(self) -> str:
        """The resolved study as run (every default written out), loadable again."""
        return yaml.safe_dump(
            self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=None
        )


# ----------------------------------------------------------------------------- loading


def load_spec(path: str | os.PathLike) -> StudySpec:
    """Read and validate a study file; raise SpecError (one line) on any problem."""
    source = os.fspath(path)
    try:
        data = read_yaml(source)
    except YamlFileError as e:
        raise SpecError(source, "", str(e)) from None
    return spec_from_dict(data, source=source)


def spec_from_dict(data: Any, source: str = "<dict>") -> StudySpec:
    """Validate parsed study data (as from YAML) into a StudySpec; raise SpecError."""

    def fail(path: str, message: str) -> typing.NoReturn:
        raise SpecError(source, path, message)

    if not isinstance(data, dict):
        fail("", "a study file must be a mapping of keys (name, target, params, ...)")
    _check_keys(data, fail)
    name = _parse_name(data.get("name"), fail)
    raw = _trial_params(data, fail)
    fixed, dimensions = _parse_params(raw, fail)

    def where(key: str) -> str:
        return _where(raw, key)

    metric, mode = _parse_objective(data, fixed, dimensions, fail)
    resources = section(Resources, data.get("resources"), "resources", fail)
    if resources.cpu + resources.gpu == 0:
        fail("resources", "cpu and gpu must be >= 0 and not both 0 (e.g. {cpu: 1, gpu: 0.25})")
    if fixed.get("device") == "cuda" and resources.gpu == 0:
        fail("params.device", "cuda needs a GPU per trial; set resources.gpu > 0 or device: auto")

    max_concurrent = _scalar(data, "max_concurrent", int, fail, default=None)
    if max_concurrent is not None:
        in_range("max_concurrent", max_concurrent, fail)
    max_failures = _scalar(data, "max_failures", int, fail, default=2)
    in_range("max_failures", max_failures, fail)

    fuse = parse_fuse(data.get("fuse"), fail)
    fuse_max = _scalar(data, "fuse_max", int, fail, default=DEFAULT_FUSE_MAX)
    in_range("fuse_max", fuse_max, fail)

    storage = _scalar(data, "storage", str, fail, default=None)
    if storage is not None and not storage.strip():
        fail("storage", "is empty; give a shared path (/mnt/nfs/studies) or a URI (s3://bucket/x)")

    search = parse_search(data.get("search"), dimensions, where, fail)
    scheduler = parse_scheduler(data.get("scheduler"), fixed, dimensions, search, where, fail)
    if fuse == "auto":
        check_fuse(search, scheduler, fail)

    spec = StudySpec(
        name=name,
        metric=metric,
        mode=mode,
        resources=resources,
        max_concurrent=max_concurrent,
        max_failures=max_failures,
        fuse=fuse,
        fuse_max=fuse_max,
        storage=storage,
        search=search,
        scheduler=scheduler,
        fixed=fixed,
        dimensions=dimensions,
        source=source,
    )
    _check_size(spec, where, fail)
    return spec


_STUDY_KEYS = (
    "name", *TOP_LEVEL_PARAMS, "metric", "mode", "resources", "max_concurrent",
    "max_failures", "fuse", "fuse_max", "storage", "search", "scheduler", "params",
)  # fmt: skip


def _check_keys(data: dict, fail: Fail) -> None:
    """Every top-level key is a study key (a trial parameter belongs under params:)."""
    for key in data:
        if key not in _STUDY_KEYS:
            if key in FIELDS:
                fail(key, f"is a trial parameter; put it under params: ({key}: ...)")
            fail(shown_key(key), "unknown key; " + did_you_mean(str(key), list(_STUDY_KEYS)))


def _parse_name(name: Any, fail: Fail) -> str:
    """The study's name: a safe folder name (it names the results folder)."""
    if name is None:
        fail("name", "missing; give the study a name (it is the results folder)")
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or name in (".", ".."):
        safe = (
            f"use at most {MAX_NAME_CHARS} letters, digits, '_', '-', '.', starting with a "
            "letter or digit (a safe folder name)"
        )
        if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
            safe = f"{len(name)} characters; {safe}"
        fail("name", f"got {shown(name)}; " + (quote_hint(name, "name") or safe))
    return name


def _trial_params(data: dict, fail: Fail) -> dict[str, tuple[str, Any]]:
    """field -> (key path, value as written): the top-level trial parameters and params:,
    each given once."""
    params = data.get("params") or {}
    if not isinstance(params, dict):
        fail("params", "must be a mapping of TrialConfig fields (lr_d: 0.0002, k: {grid: ...})")
    raw: dict[str, tuple[str, Any]] = {}
    for key in TOP_LEVEL_PARAMS:
        if key in data:
            raw[key] = (key, data[key])
    for key, value in params.items():
        if key not in FIELDS:
            fail(f"params.{shown_key(key)}", unknown_key_error(str(key)).message)
        if key in raw:
            fail(f"params.{key}", f"also given at the top level ({key}: ...); give it once")
        raw[key] = (f"params.{key}", value)
    return raw


def _parse_objective(
    data: dict, fixed: dict[str, Any], dimensions: dict[str, Dimension], fail: Fail
) -> tuple[str, str]:
    """(metric, mode): a history column every swept loss defines, and min or max."""
    metric = _scalar(data, "metric", str, fail, required="e.g. metric: js_binned")
    if metric not in METRIC_COLUMNS:
        fail(
            "metric",
            f"unknown metric {shown(metric)}; " + did_you_mean(metric, list(METRIC_COLUMNS)),
        )
    mode = _scalar(data, "mode", str, fail, required="mode: min or mode: max")
    if mode not in ("min", "max"):
        fail("mode", f"got {shown(mode)}; expected min or max")
    if metric in PROBABILITY_METRICS:
        swept = dimensions["loss"].args if "loss" in dimensions else (fixed["loss"],)
        bad = [loss for loss in swept if loss not in PROBABILITY_LOSSES]
        if bad:
            fail(
                "metric",
                f"{metric} is undefined (NaN) for loss {', '.join(bad)}: their D outputs no "
                "probability; use js_binned or js_probe, or sweep only minimax/nonsaturating",
            )
    return metric, mode


def _check_size(spec: StudySpec, where: typing.Callable[[str], str], fail: Fail) -> None:
    """At most MAX_TRIALS trials; a PBT population of at least 2."""
    trials = spec.num_trials()
    if trials > MAX_TRIALS:
        grids = {key: len(d.args) for key, d in spec.dimensions.items() if d.kind == "grid"}
        factors = [f"{n} {key}" for key, n in grids.items()]
        if spec.search.num_samples > 1:
            factors.insert(0, f"num_samples {spec.search.num_samples}")
        fail(
            where(max(grids, key=grids.__getitem__)) if grids else "search.num_samples",
            f"expands to {trials:,} trials ({' x '.join(factors)}), above the limit of "
            f"{MAX_TRIALS:,}; shrink the grids or sample them (algorithm: random, num_samples)",
        )
    if isinstance(spec.scheduler, PbtScheduler) and trials < 2:
        fail("search.num_samples", "pbt needs a population of 2 or more trials; raise it")


def _where(raw: dict[str, tuple[str, Any]], key: str) -> str:
    """The key path of a param as written (top level or params.KEY)."""
    return raw[key][0] if key in raw else f"params.{key}"


def _parse_params(raw: dict[str, tuple[str, Any]], fail) -> tuple[dict, dict]:
    """Split written params into fixed values and dimensions, each checked via TrialConfig."""
    given: dict[str, Any] = {}
    dimensions: dict[str, Dimension] = {}
    for key, (path, value) in raw.items():
        if isinstance(value, dict):
            dimensions[key] = _parse_dimension(key, path, value, fail)
        elif isinstance(value, list):
            hint = f"sweep it with {{grid: {shown(value)}}} or {{choice: ...}}"
            fail(path, f"a list is not a value; {hint}")
        else:
            try:
                given[key] = coerce(key, value)
            except ConfigError as e:
                fail(path, e.message)

    def where(key: str) -> str:
        return _where(raw, key)

    try:
        base = TrialConfig(**given)
    except ConfigError as e:
        fail(where(e.key), e.message)
    # Each dimension value must make a valid trial on its own (bounds: both ends).
    for key, dim in dimensions.items():
        path = raw[key][0]
        for i, value in enumerate(_ends(dim)):
            try:
                TrialConfig(**{**given, key: value})
            except ConfigError as e:
                fail(f"{path}.{dim.kind}[{i}]" if e.key == key else where(e.key), e.message)
    # Sizes cross in one check only, the trial's memory, and each grows it: all at their largest.
    largest = {
        key: max(_ends(dim))
        for key, dim in dimensions.items()
        if key in LIMITS and float not in typing.get_args(HINTS[key]) + (HINTS[key],)
    }
    if len(largest) > 1:
        try:
            TrialConfig(**{**given, **largest})
        except ConfigError as e:
            values = ", ".join(f"{key}={value}" for key, value in largest.items())
            fail(where(e.key), f"{e.message} (with the largest swept values, {values})")
    fixed = {key: value for key, value in to_dict(base).items() if key not in dimensions}
    eval_every, steps = fixed.get("eval_every"), fixed.get("steps")
    if eval_every is not None and steps is not None and eval_every > steps:
        message = f"{eval_every} is more than steps ({steps}): the trial would never report"
        fail(where("eval_every"), message)
    return fixed, dimensions


def _ends(dim: Dimension) -> tuple:
    """The values a dimension gives, or its two ends (bounds of every value it gives)."""
    if dim.kind == "randint":
        return (dim.args[0], dim.args[1] - 1)  # Ray's upper bound is exclusive
    return dim.args


def _parse_dimension(key: str, path: str, value: dict, fail) -> Dimension:
    kinds = list(typing.get_args(DimensionKind))
    if len(value) != 1:
        got = shown(list(value))
        fail(path, f"a dimension has exactly one of {', '.join(kinds)}; got {got}")
    ((kind, args),) = value.items()
    if kind not in kinds:
        fail(f"{path}.{shown_key(kind)}", "unknown dimension; " + did_you_mean(str(kind), kinds))
    path = f"{path}.{kind}"
    if isinstance(args, list) and not args:  # Ray would run a study of no trials at all
        fail(path, "is empty, so the study expands to zero trials; list at least one value")
    if not isinstance(args, list):
        example = "[lo, hi]" if kind in ("uniform", "loguniform", "randint") else "[a, b]"
        fail(path, f"expects a list, e.g. {{{kind}: {example}}}")
    try:
        args = [coerce(key, a) for a in args]
    except ConfigError as e:
        fail(path, e.message)
    types = typing.get_args(HINTS[key]) or (HINTS[key],)
    if kind in ("grid", "choice"):
        for i, a in enumerate(args):
            if a in args[:i]:
                fail(path, f"lists {shown(a)} twice; list each value once")
        return Dimension(kind=kind, args=tuple(args))
    if len(args) != 2:
        fail(path, f"expects two bounds [lo, hi], got {len(args)} values")
    if kind == "randint" and (int not in types or bool in types):
        hint = "{uniform: [lo, hi]}" if float in types else "{choice: [...]}"
        fail(path, f"randint gives integers but {key} takes {accepted(key)}; use {hint}")
    if kind != "randint" and float not in types:
        hint = "{randint: [lo, hi]}" if int in types and bool not in types else "{choice: [...]}"
        fail(path, f"{kind} gives floats but {key} takes {accepted(key)}; use {hint}")
    lo, hi = args
    if not all(isinstance(b, int | float) and not isinstance(b, bool) for b in args):
        fail(path, f"bounds must be numbers, got {shown(args)}")
    if not all(isinstance(b, int) or math.isfinite(b) for b in args):  # huge ints: range checks
        fail(path, f"bounds must be finite numbers, got {shown(args)}")
    if not lo < hi:
        fail(path, f"lower bound {shown(lo)} must be below upper bound {shown(hi)}")
    if kind == "loguniform" and lo <= 0:
        fail(path, f"lower bound {lo} must be > 0 on a log scale")
    return Dimension(kind=kind, args=(lo, hi))


# ----------------------------------------------------------------------------- helpers


def _scalar(data: dict, key: str, kind: type, fail, *, default: Any = None, required: str = ""):
    """A top-level study key of type `kind`: `default` when absent, or fail if `required`."""
    if key not in data or data[key] is None:
        if required:
            fail(key, f"missing; add {required}")
        return default
    if kind is str and not isinstance(data[key], str):  # `metric: 1` is no name
        fail(key, f"got {shown(data[key])}; expected a string")
    return typed(data[key], kind, key, fail)
