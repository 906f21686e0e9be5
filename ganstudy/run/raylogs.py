"""Ray Tune's log records that ganstudy says in its own words, kept off the terminal while a
study runs.

Ray logs what it sees as it sees it; ganstudy's last lines say what happened to the study
(cli.py). Where both speak, a user reads Ray's traceback as the failure and ours as an
afterthought. So, from `install()` to `remove()` (run/study.py: the whole run):

- A record about a disk fault (a trial's `OSError: [Errno 28]` traceback, Ray's failed save
  of its experiment state, a trial's error nobody fetched) is held back. When the run ends in
  DiskFaultStop's stop, ganstudy's final line names the fault and what to do, and the held
  records are dropped; otherwise (a fault ganstudy did not handle) they are let through.
- What Tune logs as it ends a run that DiskFaultStop stopped ("Stop signal received (e.g. via
  SIGINT/Ctrl+C)", "Trials did not complete") is dropped: the stop was ours, not a Ctrl-C.
- "Experiment has been interrupted, but the most recent state was saved" is dropped: after
  any interrupt ganstudy says what finished and how to continue (`--resume`).
- "Failed to fetch metrics for N trial(s)" is dropped: it is about Ray's per-trial
  result.json / progress.csv, which a resumed or interrupted trial may lack and which only
  Ray's own dataframes read; ganstudy's tables come from each trial's own files.

Every other record passes at once, unchanged: a genuine trial error's traceback among them.
The filter sits on the loggers of the Ray modules that log these records (a logging.Filter
on a logger sees the records logged there, whatever handlers print them).
"""

from __future__ import annotations

import logging
import traceback

from ganstudy.run.faults import DiskFaultStop, is_disk_fault

# The Ray modules whose loggers log the records above (Ray 2.60).
LOGGERS = (
    "ray.tune.tune",  # the end of a run: stop signal, interrupted, trials not complete
    "ray.tune.execution.tune_controller",  # "Trial task failed for trial ..."
    "ray.tune.execution.experiment_state",  # "Saving experiment state to storage ... failed"
    "ray.tune.analysis.experiment_analysis",  # "Failed to fetch metrics for N trial(s)"
    "ray._private.worker",  # "Unhandled error ...": a failed task whose result nobody fetched
)
# Records dropped whenever they come (see the module docstring).
ALWAYS_DROPPED = (
    "Failed to fetch metrics for ",
    "Experiment has been interrupted, but the most recent state was saved",
)
# Records dropped when the run was stopped by DiskFaultStop.
DROPPED_AFTER_OUR_STOP = ("Stop signal received", "Trials did not complete")


class KnownRayNoise(logging.Filter):
    """The filter itself; `held` are the disk-fault records it holds back."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[logging.LogRecord] = []
        self._loggers: list[logging.Logger] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(ALWAYS_DROPPED):
            return False
        if DiskFaultStop.fault is not None and message.startswith(DROPPED_AFTER_OUR_STOP):
            return False
        if is_disk_fault(message + _exception_text(record)):
            self.held.append(record)
            return False
        return True

    def install(self) -> None:
        """Filter the LOGGERS' records from now on."""
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if logger not in self._loggers:
                logger.addFilter(self)
                self._loggers.append(logger)

    def remove(self) -> None:
        """Stop filtering; let the held records through unless the run ended in DiskFaultStop's
        stop (whose line ganstudy prints)."""
        for logger in self._loggers:
            logger.removeFilter(self)
        self._loggers = []
        held, self.held = self.held, []
        if DiskFaultStop.fault is None:
            for record in held:
                logging.getLogger(record.name).handle(record)


def _exception_text(record: logging.LogRecord) -> str:
    """The text of the exception a record carries ("" if none), as a handler would print it."""
    if not record.exc_info or record.exc_info[1] is None:
        return ""
    return "".join(traceback.format_exception(record.exc_info[1]))
