"""Resuming a study: refuse damaged state, repair what a killed driver left behind.

Ray's own restore logs a problem and silently starts the whole study over when its saved
state is missing or damaged; these checks refuse first, in one line, with the fix.
"""

from __future__ import annotations

import fnmatch
import json

import pyarrow.fs
import yaml
from ray import cloudpickle, tune
from ray.tune import Checkpoint

from ganstudy.messages import clip_middle, detail
from ganstudy.run.folder import StudyError, StudyFolder
from ganstudy.run.trainable import try_load_state
from ganstudy.study.results import SPEC_FILE
from ganstudy.study.spec import SpecError, StudySpec, spec_from_dict

# Ray Tune's search-algorithm checkpoints in the experiment folder (grid/random, a wrapped
# searcher such as Optuna's, the searcher itself), each a cloudpickle.
SEARCH_STATE_FILES = (
    "basic-variant-state-*.json",
    "search_gen_state-*.json",
    "searcher-state-*.pkl",
)


def check_resumable(folder: StudyFolder, spec: StudySpec) -> None:
    """Refuse to resume from missing or damaged state: Ray's restore would log the problem
    and silently start the whole study over."""
    fresh = "run without --resume (add --fresh to replace the folder)"
    if not tune.Tuner.can_restore(folder.experiment):
        raise StudyError(
            f"{clip_middle(folder.location)}: no resumable Ray experiment state in "
            f"{clip_middle(folder.experiment)}; {fresh}"
        )
    fs, path = pyarrow.fs.FileSystem.from_uri(folder.experiment)
    try:
        with fs.open_input_stream(f"{path}/tuner.pkl") as f:
            tuner_state = cloudpickle.loads(f.read())
        if not isinstance(tuner_state, dict):
            raise TypeError(f"holds a {type(tuner_state).__name__}, not the Tuner's settings")
    except Exception as error:  # truncated or foreign pickle: EOF, Unpickling, Type errors
        raise StudyError(
            f"{clip_middle(folder.experiment)}/tuner.pkl: damaged ({detail(error)}); {fresh}"
        ) from None
    names = [info.base_name for info in fs.get_file_info(pyarrow.fs.FileSelector(path))]
    states = sorted(fnmatch.filter(names, "experiment_state-*.json"))
    if not states:
        raise StudyError(
            f"{clip_middle(folder.experiment)}: the experiment state (experiment_state-*.json) is "
            f"missing, so Ray would rerun every trial from scratch; {fresh}"
        )
    try:
        with fs.open_input_stream(f"{path}/{states[-1]}") as f:
            state = json.loads(f.read())
        if not isinstance(state["trial_data"], list):
            raise TypeError("trial_data is not a list")
    except (ValueError, KeyError, TypeError) as error:  # truncated or foreign JSON
        raise StudyError(
            f"{clip_middle(folder.experiment)}/{states[-1]}: the experiment state is damaged "
            f"({detail(error)}), so Ray would rerun every trial "
            f"from scratch; {fresh}"
        ) from None
    # The search algorithm's state (Ray reads the newest by name). A driver killed while
    # Ray copied it to storage leaves it truncated; Ray's restore then starts a new run.
    for pattern in SEARCH_STATE_FILES:
        found = sorted(fnmatch.filter(names, pattern))
        if not found:
            continue
        try:
            with fs.open_input_stream(f"{path}/{found[-1]}") as f:
                cloudpickle.loads(f.read())
        except Exception as error:  # truncated or foreign pickle: EOF, Unpickling errors
            raise StudyError(
                f"{clip_middle(folder.experiment)}/{found[-1]}: the search algorithm's state is "
                f"damaged ({type(error).__name__}), so Ray would start the study over; {fresh}"
            ) from None
    try:
        saved = folder.read_text(SPEC_FILE)
    except UnicodeDecodeError:  # binary: nothing to compare the study with
        raise StudyError(
            f"{clip_middle(folder.join(SPEC_FILE))}: damaged, not UTF-8 text; {fresh}"
        ) from None
    if saved is not None:
        try:
            before = spec_from_dict(yaml.safe_load(saved), source=folder.join(SPEC_FILE))
        except (SpecError, yaml.YAMLError):
            before = None
        if before != spec:
            changed = _changed_keys(before, spec)
            raise StudyError(
                f"{clip_middle(spec.source)}: differs from the study being resumed "
                f"({clip_middle(folder.join('spec.yaml'))}"
                f"{': ' + ', '.join(changed) if changed else ''}); resume with the study as it "
                "ran, or use --fresh to start over"
            )


def ray_statuses(folder: StudyFolder) -> dict[str, str]:
    """Trial id -> Ray's status (TERMINATED, ERROR, PENDING, RUNNING, PAUSED) in the newest
    saved experiment state; Tune saves it once more when a run ends, interrupted or not."""
    fs, path = pyarrow.fs.FileSystem.from_uri(folder.experiment)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    states = sorted(i.path for i in infos if fnmatch.fnmatch(i.base_name, "experiment_state-*"))
    if not states:
        return {}
    try:
        with fs.open_input_stream(states[-1]) as f:
            trial_data = json.loads(f.read())["trial_data"]
        trials = [json.loads(trial_json) for trial_json, _ in trial_data]
    except (ValueError, KeyError, TypeError):  # cut short (a full disk): the trials' files say
        return {}
    return {trial["trial_id"]: trial["status"] for trial in trials}


def repair_stale_checkpoints(folder: StudyFolder) -> None:
    """Make the checkpoints a killed driver's experiment state names exist again.

    Ray keeps a trial's newest two checkpoints and re-saves its experiment state after
    deleting an older one, but not atomically with it: a driver killed in between leaves a
    state naming deleted checkpoints. Ray's restore then fails the trial if its latest is
    gone ("does not exist on storage anymore"), and logs an error when it later deletes an
    older one that is gone. Every checkpoint holds the whole trainer state and history, so
    the trial's newest complete checkpoint, copied under the latest name, continues it with
    nothing lost or repeated; older names get an empty folder for Ray to delete.
    """
    from ray.tune.utils.serialization import TuneFunctionDecoder

    fs, path = pyarrow.fs.FileSystem.from_uri(folder.experiment)
    states = fs.get_file_info(pyarrow.fs.FileSelector(path))
    newest = max(i.path for i in states if fnmatch.fnmatch(i.base_name, "experiment_state-*.json"))
    with fs.open_input_stream(newest) as f:
        trial_data = json.loads(f.read())["trial_data"]
    for trial_json, runtime_json in trial_data:
        try:
            if json.loads(trial_json)["status"] == "TERMINATED":
                continue
            # Ray's own format: the checkpoint manager is a cloudpickle inside the JSON (the
            # study folder is trusted as much as the resume itself, which unpickles it too).
            runtime = json.loads(runtime_json, cls=TuneFunctionDecoder, allow_cloudpickle=True)
            manager = runtime["checkpoint_manager"]
            latest = manager.latest_checkpoint_result
            named = [r.checkpoint for r in manager.best_checkpoint_results]
        except Exception:  # a Ray that stores it otherwise: leave the restore to Ray
            continue
        if latest is None or latest.checkpoint is None:
            continue
        trial_fs = latest.checkpoint.filesystem
        missing = {
            c.path
            for c in [*named, latest.checkpoint]
            if c is not None and trial_fs.get_file_info(c.path).type == pyarrow.fs.FileType.NotFound
        }
        trial_dir, latest_name = latest.checkpoint.path.rsplit("/", 1)
        if latest.checkpoint.path in missing:
            source = newest_checkpoint(trial_fs, trial_dir)
            if source is None:
                continue  # nothing to continue from: Ray reports the trial's error
            trial_fs.create_dir(latest.checkpoint.path)
            pyarrow.fs.copy_files(
                source,
                latest.checkpoint.path,
                source_filesystem=trial_fs,
                destination_filesystem=trial_fs,
            )
            missing.discard(latest.checkpoint.path)
            print(
                f"{trial_dir.rsplit('/', 1)[1]}: the saved experiment state names {latest_name}, "
                f"which the trial had replaced; continuing from {source.rsplit('/', 1)[1]}"
            )
        for gone in missing:
            trial_fs.create_dir(gone)


def drop_unreadable_errors(folder: StudyFolder) -> list[str]:
    """Remove each trial's `error.pkl` that does not unpickle; return the trials it was in.

    Why: Ray reads every trial's pickled error when it gathers a run's results, and one cut
    short (a full disk while Ray wrote it) fails the whole read with EOFError. Without the
    pickle Ray falls back to the trial's `error.txt`, the same error as text.
    """
    from ray import cloudpickle

    fs, path = pyarrow.fs.FileSystem.from_uri(folder.experiment)
    dropped = []
    for info in fs.get_file_info(pyarrow.fs.FileSelector(path, recursive=True)):
        if info.base_name != "error.pkl":
            continue
        try:
            with fs.open_input_stream(info.path) as f:
                cloudpickle.loads(f.readall())
        except Exception:  # cut short, or a class this Ray cannot load: the text remains
            fs.delete_file(info.path)
            dropped.append(info.path.rsplit("/", 2)[-2])
    return dropped


def newest_checkpoint(fs: pyarrow.fs.FileSystem, trial_dir: str) -> str | None:
    """The trial's checkpoint folder with the highest step whose state loads (one being
    written when its process died is skipped)."""
    best, best_step = None, -1
    folders = fs.get_file_info(pyarrow.fs.FileSelector(trial_dir, allow_not_found=True))
    for info in folders:
        if not fnmatch.fnmatch(info.base_name, "checkpoint_*"):
            continue
        state = try_load_state(Checkpoint(info.path, filesystem=fs))
        if state is not None and state["trainer"]["step"] > best_step:
            best, best_step = info.path, state["trainer"]["step"]
    return best


def _changed_keys(before: StudySpec | None, after: StudySpec) -> list[str]:
    if before is None:
        return ["unreadable"]
    old, new = before.to_dict(), after.to_dict()
    keys = [k for k in new if k != "params" and old.get(k) != new[k]]
    params = old.get("params", {}), new["params"]
    keys += [f"params.{k}" for k in params[1] if params[0].get(k) != params[1][k]]
    return keys
