"""What a user reads when Ray Tune meets a known fault: ganstudy's own line, once, not Ray's
tracebacks and warnings (run/raylogs.py); a genuine error's traceback stays visible."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator

import pytest
from study_files import tiny_study, write_study

from ganstudy.run.faults import DiskFaultStop
from ganstudy.run.raylogs import KnownRayNoise

CONTROLLER = "ray.tune.execution.tune_controller"
TUNE = "ray.tune.tune"


class _Printed(logging.Handler):
    """What reaches the "ray" logger's handlers, as the lines a user would read."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))


@pytest.fixture
def printed() -> Iterator[_Printed]:
    handler = _Printed()
    logging.getLogger("ray").addHandler(handler)
    yield handler
    logging.getLogger("ray").removeHandler(handler)
    DiskFaultStop.reset()


def _log_failure(error: BaseException) -> None:
    """Log a trial's failure as Tune's controller does."""
    try:
        raise error
    except BaseException as raised:
        logging.getLogger(CONTROLLER).error("Trial task failed for trial t_0", exc_info=raised)


def _disk_full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_disk_fault_traceback_is_dropped_when_ganstudy_stopped_the_study(printed):
    noise = KnownRayNoise()
    noise.install()
    _log_failure(_disk_full())
    DiskFaultStop.fault = "trial t_0: OSError: [Errno 28] No space left on device"
    logging.getLogger(TUNE).warning("Stop signal received (e.g. via SIGINT/Ctrl+C), ending")
    logging.getLogger(TUNE).error("Trials did not complete: %s", ["t_0"])
    noise.remove()
    assert printed.lines == []


def test_a_disk_fault_ganstudy_did_not_handle_is_shown_after_the_run(printed):
    noise = KnownRayNoise()
    noise.install()
    _log_failure(_disk_full())
    assert printed.lines == []  # held back while the run goes on
    noise.remove()  # the run ended without DiskFaultStop's stop: nothing else says it
    assert len(printed.lines) == 1 and "No space left on device" in printed.lines[0]
    assert "Traceback" in printed.lines[0]


def test_a_genuine_error_and_a_users_ctrl_c_are_shown_at_once(printed):
    noise = KnownRayNoise()
    noise.install()
    _log_failure(ValueError("a bug in a trial"))
    logging.getLogger(TUNE).warning("Stop signal received (e.g. via SIGINT/Ctrl+C), ending")
    logging.getLogger(TUNE).error("Trials did not complete: %s", ["t_0"])
    assert len(printed.lines) == 3 and "ValueError: a bug in a trial" in printed.lines[0]
    noise.remove()
    assert len(printed.lines) == 3


def test_rays_resume_and_interrupt_chatter_is_dropped_and_only_while_installed(printed):
    analysis = logging.getLogger("ray.tune.analysis.experiment_analysis")
    fetch = "Failed to fetch metrics for 1 trial(s):\n- t_0: FileNotFoundError('Could not')"
    noise = KnownRayNoise()
    noise.install()
    analysis.warning(fetch)
    interrupted = "Experiment has been interrupted, but the most recent state was saved.\n"
    logging.getLogger(TUNE).warning(interrupted + "Resume experiment with: Tuner.restore(...)")
    assert printed.lines == []
    noise.remove()
    analysis.warning(fetch)  # outside a study run, Ray's own logging is untouched
    assert len(printed.lines) == 1


def test_optuna_is_not_warned_of_a_step_a_resumed_trial_reports_again():
    import optuna

    from ganstudy.run.optuna_search import GStepOptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = GStepOptunaSearch(
        space={"k": optuna.distributions.IntDistribution(1, 3)},
        metric="js_binned",
        mode="min",
        steps=200,
    )
    assert search.suggest("t_0") is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search.on_trial_result("t_0", {"js_binned": 0.5, "step": 100})
        search.on_trial_result("t_0", {"js_binned": 0.5, "step": 100})  # resumed: again
        search.on_trial_complete("t_0", {"js_binned": 0.4, "step": 200})
    [trial] = search._ot_study.trials
    assert trial.intermediate_values == {100: 0.5, 200: 0.4} and trial.value == 0.4


def _run(argv: list[str], **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ganstudy.cli", "run", *argv, "--quiet"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GANSTUDY_FAULT")}
    return subprocess.run(
        command, env=environment | env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_a_full_disk_then_resume_print_ganstudys_lines_and_a_genuine_error(tmp_path):
    """Each trial fails once with a genuine error at step 100 (retried), then its checkpoint
    write meets a full disk at step 200. The genuine error's traceback is shown; the full
    disk is one ganstudy line, with none of Ray's tracebacks or its "Stop signal received
    (e.g. via SIGINT/Ctrl+C)". The --resume that follows prints nothing but ganstudy's
    summary: no traceback, no "Failed to fetch metrics"."""
    study = tiny_study("logs", steps=300, losses=("minimax",), max_concurrent=1, max_failures=3)
    study["replicas"] = 1
    args = [str(write_study(tmp_path, study)), "--results", str(tmp_path / "logs")]
    run = _run(args, GANSTUDY_FAULT="raise@100,enospc@200", GANSTUDY_FAULT_DIR=str(tmp_path))
    err = run.stderr
    assert run.returncode == 1, err[-3000:]
    assert err.count("Traceback") == 1 and "injected fault raise@100" in err, err[-3000:]
    assert "No space left on device" in err.splitlines()[-1]
    assert err.count("No space left on device") == 1, err[-3000:]
    assert "Stop signal received" not in err and "Trials did not complete" not in err
    assert err.splitlines()[-1].startswith("ganstudy: error: ") and "--resume" in err

    again = _run([*args, "--resume"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr == "", again.stderr[-3000:]
    assert "1 trials started, 1 replica runs" in again.stdout
