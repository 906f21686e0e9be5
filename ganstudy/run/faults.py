"""Faults that no retry can mend: a full or read-only disk stops the whole study at once,
instead of retrying every trial (max_failures times each) into the same failure.

The stop is Tune's own graceful one (what Ctrl-C does: SIGUSR1 takes the same path), so the
trials stay unfinished in the saved experiment state and `--resume` continues them once
there is space again; the tables are written as for an interrupted run.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

from ray.tune import Callback

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
        # Tune handles SIGUSR1 like Ctrl-C while it runs in the main thread; elsewhere the
        # signal's default would end the process, so then the trials just fail as usual.
        if signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            os.kill(os.getpid(), signal.SIGUSR1)
