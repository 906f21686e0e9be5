"""A StudySpec (plain data) as Ray Tune objects: search spaces, search algorithm, scheduler,
PBT mutations, the Tuner itself. The one translation from ganstudy's study to Ray's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import tune

from ganstudy.config import FIELDS
from ganstudy.messages import clip_middle, detail
from ganstudy.run import groups
from ganstudy.run.faults import DiskFaultStop
from ganstudy.run.folder import StudyError, StudyFolder
from ganstudy.run.tensorboard import GStepTensorBoard
from ganstudy.run.trainable import train_trial
from ganstudy.study.results import EXPERIMENT, OPTUNA_FILE
from ganstudy.study.spec import AshaScheduler, Dimension, PbtScheduler, StudySpec


def search_space(dimension: Dimension) -> Any:
    """Ray Tune's search-space object for one dimension (same semantics: spec.py's table)."""
    if dimension.kind == "grid":
        return tune.grid_search(list(dimension.args))
    if dimension.kind == "choice":
        return tune.choice(list(dimension.args))
    return getattr(tune, dimension.kind)(*dimension.args)  # uniform, loguniform, randint


def param_space(spec: StudySpec) -> dict[str, Any]:
    """Ray Tune param_space: every TrialConfig field, fixed values plain, dimensions as Tune's."""
    return {
        key: search_space(spec.dimensions[key]) if key in spec.dimensions else spec.fixed[key]
        for key in FIELDS
    }


def fused_param_space(spec: StudySpec, slots: int) -> dict[str, Any]:
    """fuse: auto's param_space: one grid over the groups (groups.plan), each a JSON string
    of its members' config dicts (a string, so Ray resolves nothing inside it)."""
    chunks = groups.plan(groups.configurations(spec), spec.fuse_max, slots)
    return {groups.MEMBERS_KEY: tune.grid_search([groups.encode(chunk) for chunk in chunks])}


def hyperparam_mutations(spec: StudySpec) -> dict[str, Any]:
    """PBT's hyperparam_mutations: choice -> its list (PBT shifts along it), else the domain."""
    if not isinstance(spec.scheduler, PbtScheduler):
        return {}
    out = {}
    for key in spec.scheduler.mutable:
        dim = spec.dimensions[key]
        out[key] = list(dim.args) if dim.kind == "choice" else search_space(dim)
    return out


def build_tuner(
    spec: StudySpec,
    folder: StudyFolder,
    *,
    resume: bool,
    max_concurrent: int | None,
    progress: tune.ProgressReporter,
) -> tune.Tuner:
    """A new Tuner for the study, or the interrupted one restored from its folder."""
    trainable = tune.with_resources(
        train_trial, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
    )
    if resume:
        try:
            # The RunConfig (progress display included) is the one pickled at the start.
            return tune.Tuner.restore(
                folder.experiment, trainable=trainable, resume_unfinished=True, resume_errored=True
            )
        except Exception as error:  # an unreadable tuner.pkl: pickle, EOF, attribute errors
            raise StudyError(
                f"{clip_middle(folder.experiment)}: cannot restore the Ray experiment "
                f"({detail(error)}); "
                "run without --resume (add --fresh to replace the folder)"
            ) from None
    fused = spec.fuse == "auto"
    if fused:
        import ray

        slots = groups.slots(spec, max_concurrent, ray.cluster_resources())
    return tune.Tuner(
        trainable,
        param_space=fused_param_space(spec, slots) if fused else param_space(spec),
        tune_config=_tune_config(spec, folder.local, max_concurrent),
        run_config=_run_config(spec, folder.location, progress),
    )


def _tune_config(spec: StudySpec, out: Path, max_concurrent: int | None) -> tune.TuneConfig:
    search_alg = None
    if spec.search.algorithm == "optuna":
        import optuna  # imported here: a second that other studies need not pay

        from ganstudy.run.optuna_search import GStepOptunaSearch

        # A sqlite RDB storage beside the tables: inspectable with optuna's own tools.
        search_alg = GStepOptunaSearch(
            steps=spec.fixed["steps"],
            sampler=optuna.samplers.TPESampler(seed=spec.fixed.get("seed", 0)),
            storage=optuna.storages.RDBStorage(f"sqlite:///{out / OPTUNA_FILE}"),
            study_name=spec.name,
        )
    return tune.TuneConfig(
        metric=spec.metric,
        mode=spec.mode,
        search_alg=search_alg,
        scheduler=_scheduler(spec),
        # A fused study's groups already hold every sample (groups.configurations).
        num_samples=1 if spec.fuse == "auto" else spec.search.num_samples,
        max_concurrent_trials=max_concurrent or spec.max_concurrent,
        # Reuse trial workers instead of starting a process (and importing torch) per trial:
        # most of a small study's fixed overhead (ganstudy bench, study figure).
        reuse_actors=True,
        trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
    )


def _scheduler(spec: StudySpec) -> tune.schedulers.TrialScheduler | None:
    s = spec.scheduler
    # Schedulers count time in G steps (the `step` every report carries), like the spec.
    if isinstance(s, AshaScheduler):
        return tune.schedulers.ASHAScheduler(
            time_attr="step",
            grace_period=s.grace_period,
            reduction_factor=s.reduction_factor,
            max_t=spec.fixed["steps"],
        )
    if isinstance(s, PbtScheduler):
        return tune.schedulers.PopulationBasedTraining(
            time_attr="step",
            perturbation_interval=s.perturbation_interval,
            hyperparam_mutations=hyperparam_mutations(spec),
            quantile_fraction=s.quantile_fraction,
            resample_probability=s.resample_probability,
            synch=s.synchronous,
        )
    return None  # FIFO


def _run_config(
    spec: StudySpec,
    location: str,
    progress: tune.ProgressReporter,
) -> tune.RunConfig:
    return tune.RunConfig(
        name=EXPERIMENT,
        storage_path=location,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        # The latest checkpoint holds the whole state, so two are enough (one spare while
        # the next is written). PBT clones a trial from another's checkpoint some time after
        # choosing it, and a donor that kept only its newest few could have deleted it by
        # then ("does not exist on storage anymore"): under PBT every checkpoint is kept
        # (they hold no snapshots, so a PBT study's are a few MB per trial).
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=None if isinstance(spec.scheduler, PbtScheduler) else 2
        ),
        progress_reporter=progress,
        callbacks=[
            # A full or read-only disk stops the study at once (no retry can mend it).
            DiskFaultStop(),
            # In place of Ray's default TensorBoard logger: by G step, one run per replica.
            GStepTensorBoard(list(spec.dimensions), pbt=isinstance(spec.scheduler, PbtScheduler)),
        ],
        verbose=1,
    )
