"""Faults that no retry can mend: a full or read-only disk stops the whole study at once,
instead of retrying every trial (max_failures times each) into the same failure.

The stop is Tune's own graceful one (what Ctrl-C does: SIGUSR1 takes the same path), so the
trials stay unfinished in the saved experiment state and `--resume` continues them once
there is space again; the tables are written as for an interrupted run.

Ray saves its experiment state once more as it stops, by copying it over the one in the
study folder; on a full disk that copy is cut short and `--resume` would have nothing to
read. So at the fault the saved states (the experiment's and the search algorithm's) are
first renamed aside (a rename needs no space), and `restore_saved_state` puts each back if
its final save did not arrive whole.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs
from ray import cloudpickle
from ray.tune import Callback

from ganstudy.run.resume import SEARCH_STATE_FILES

SET_ASIDE = ".before-disk-fault"  # suffix of a saved state renamed aside at a fault

# The messages of a storage fault, as they appear in a trial's error text.
DISK_FAULTS = (
    os.strerror(errno.ENOSPC),  # No space left on device
    os.strerror(errno.EROFS),  # Read-only file system
    os.strerror(errno.EDQUOT),  # Disk quota exceeded
)


def is_disk_fault(text: str) -> bool:
    """Whether an error's text is that of a disk fault."""
    return any(message in text for message in DISK_FAULTS)


class DiskFaultStop(Callback):
    """On the first trial error that is a disk fault, stop the study gracefully.

    `fault` is a class attribute: Tune may use an unpickled copy of the callback (a resumed
    study), and the driver reads what any copy in this process saw.
    """

    fault: str | None = None  # "trial <id>: <error>", the first disk fault of this run

    @classmethod
    def reset(cls) -> None:
        cls.fault = None

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self._check(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._check(trial)

    def _check(self, trial) -> None:
        # The driver writes the trial's error file locally before these callbacks (the copy
        # in storage comes later, so Trial.get_error may not see it yet).
        path = trial.error_file
        text = Path(path).read_text(errors="replace") if path and Path(path).exists() else ""
        if DiskFaultStop.fault is not None or not is_disk_fault(text):
            return
        line = next(x for x in reversed(text.splitlines()) if is_disk_fault(x))
        DiskFaultStop.fault = f"trial {trial.trial_id}: {line.strip()[:200]}"
        storage = trial.storage
        _set_aside_state(storage.storage_filesystem, storage.experiment_fs_path)
        # Tune handles SIGUSR1 like Ctrl-C while it runs in the main thread; elsewhere the
        # signal's default would end the process, so then the trials just fail as usual.
        if signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            os.kill(os.getpid(), signal.SIGUSR1)


def _states(fs: pyarrow.fs.FileSystem, experiment: str, pattern: str) -> list[str]:
    infos = fs.get_file_info(pyarrow.fs.FileSelector(experiment, allow_not_found=True))
    return sorted(i.path for i in infos if fnmatch.fnmatch(i.base_name, pattern))


# What --resume reads from the experiment folder (the newest file of each pattern), with how
# each is read whole: Ray's experiment state (JSON) and the search algorithm's state
# (cloudpickles). Ray saves both again as it stops; a full disk can cut either short.
SAVED_STATES: tuple[tuple[str, Callable[[bytes], object]], ...] = (
    ("experiment_state-*.json", json.loads),
    *((pattern, cloudpickle.loads) for pattern in SEARCH_STATE_FILES),
)


def _set_aside_state(fs: pyarrow.fs.FileSystem, experiment: str) -> None:
    for pattern, _ in SAVED_STATES:
        states = _states(fs, experiment, pattern)
        if states:
            fs.move(states[-1], states[-1] + SET_ASIDE)


def restore_saved_state(experiment_uri: str) -> bool:
    """After a run: keep each of Ray's final saves (SAVED_STATES) that arrived whole, else
    put back the file set aside at a disk fault (if one stopped the run). Return whether the
    state now there is whole (it is not when the disk filled while Ray saved it and no trial's
    fault set a whole one aside first)."""
    fs, experiment = pyarrow.fs.FileSystem.from_uri(experiment_uri)
    for pattern, read in SAVED_STATES:
        for aside in _states(fs, experiment, pattern + SET_ASIDE):
            state = aside.removesuffix(SET_ASIDE)
            if _whole(fs, state, read):
                fs.delete_file(aside)
            else:
                fs.move(aside, state)
    states = _states(fs, experiment, "experiment_state-*.json")
    searches = [_states(fs, experiment, pattern) for pattern, _ in SAVED_STATES[1:]]
    return (
        bool(states)
        and _whole(fs, states[-1], json.loads)
        and all(_whole(fs, found[-1], cloudpickle.loads) for found in searches if found)
    )


def _whole(fs: pyarrow.fs.FileSystem, path: str, read: Callable[[bytes], object]) -> bool:
    try:
        with fs.open_input_stream(path) as f:
            read(f.read())
    except Exception:  # missing, or cut short (OSError, JSON's ValueError, pickle's errors)
        return False
    return True
