"""`ganstudy trial` between and after its evals: a progress bar on a terminal's stderr (never
in a pipe unless asked), training in chunks that change nothing trained, a closing summary,
and the torch threads it trains on (default 1, --threads, GANSTUDY_THREADS)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import torch
from helpers import REPO, read_until_closed

from ganstudy.cli import main
from ganstudy.config import TrialConfig
from ganstudy.engine.threads import DEFAULT_THREADS, THREADS_ENV, threads_setting
from ganstudy.engine.trainer import Trainer
from ganstudy.trial_command import TrialProgress, evaluations

TINY = ["g_width=8", "d_width=8", "batch_size=16", "eval_batch=128", "eval_samples=500"]
TINY += ["coverage_samples=100", "device=cpu"]
BAR = re.compile(r"(\d+)/(\d+) steps")  # tqdm's n/total, as the bar_format writes it


def test_training_in_chunks_changes_nothing_trained():
    config = TrialConfig(
        target="ring8", steps=70, eval_every=30, replicas=2, g_width=8, d_width=8,
        batch_size=16, eval_samples=500, coverage_samples=100,
    )  # fmt: skip
    whole = [e.rows for e in Trainer(config).run()]
    with TrialProgress(Trainer(config), show=False) as progress:
        chunked = [e.rows for e in evaluations(Trainer(config), progress)]
    assert [[r["step"] for r in rows] for rows in chunked] == [[s, s] for s in (0, 30, 60, 70)]
    assert json.dumps(chunked) == json.dumps(whole)  # bit for bit (NaN written alike)


def test_chunks_report_progress_between_evals(monkeypatch):
    seen = []
    config = TrialConfig(target="ring8", steps=200, eval_every=100, g_width=8, d_width=8)

    class Recorder(TrialProgress):
        def advance(self, step: int) -> None:
            seen.append(step)

    monkeypatch.setattr("ganstudy.trial_command.CHUNK_S", 1e-9)  # every chunk a single step
    with Recorder(Trainer(config), show=False) as progress:
        list(evaluations(Trainer(config), progress))
    assert seen == list(range(1, 201))


def run_trial(*args: str, stderr_tty: bool, env: dict | None = None, tmp_path: Path):
    """`ganstudy trial ARGS` with stdout to a file and stderr to a pseudo-terminal (80
    columns) or a pipe; (exit status, stdout, stderr)."""
    out_file = tmp_path / "rows.out"
    command = [sys.executable, "-m", "ganstudy.entry", "trial", *args]
    environment = os.environ | {"TERM": "xterm"} | (env or {})
    with open(out_file, "w") as out:
        if not stderr_tty:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.PIPE, text=True, cwd=REPO,
                env=environment, timeout=300,
            )  # fmt: skip
            return done.returncode, out_file.read_text(), done.stderr
        main_fd, child = pty.openpty()
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        process = subprocess.Popen(command, stdout=out, stderr=child, cwd=REPO, env=environment)
        os.close(child)
        err = read_until_closed(main_fd, 300)
        return process.wait(timeout=60), out_file.read_text(), err.decode()


LONG = ["--set", "steps=1200", "eval_every=600", *TINY, "--json"]
SHORT = ["--set", "steps=200", "eval_every=100", *TINY, "--json"]


def test_a_terminal_gets_a_progress_bar_between_evals_and_a_summary(tmp_path):
    code, out, err = run_trial(*LONG, stderr_tty=True, tmp_path=tmp_path)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]  # stdout: JSON lines only
    assert [r["step"] for r in rows] == [0, 600, 1200]
    counts = {int(n) for n, total in BAR.findall(err) if total == "1200"}
    assert len(counts - {0, 600, 1200}) >= 2, err  # updates between the evals
    assert "steps/s" in err or "step/s" in err
    lines = re.split(r"[\r\n]+", err)  # the bar redraws with carriage returns
    summary = [line for line in lines if line.startswith(("done:", "outcome:", "rows:"))]
    assert summary[0].startswith("done: 1200 steps x 1 replicas in ")
    assert summary[0].endswith(" steps/s with evals, 1 torch thread")
    assert summary[1] == f"outcome: replica 0 {rows[-1]['outcome']}"
    assert summary[2] == f"rows: 3 JSON lines on stdout ({tmp_path / 'rows.out'})"


def test_a_pipe_gets_no_progress_bar_unless_asked(tmp_path):
    code, out, err = run_trial(*SHORT, stderr_tty=False, tmp_path=tmp_path)
    assert code == 0 and len(out.splitlines()) == 3
    assert "\r" not in err and "\x1b" not in err and not BAR.search(err)
    assert [line.split(":")[0] for line in err.splitlines()[:2]] == ["done", "outcome"]
    code, out, err = run_trial(*SHORT, "--progress", stderr_tty=False, tmp_path=tmp_path)
    assert code == 0 and BAR.search(err)
    code, out, err = run_trial(*SHORT, "--no-progress", stderr_tty=True, tmp_path=tmp_path)
    assert code == 0 and not BAR.search(err) and "done: 200 steps" in err


def test_the_table_ends_with_the_summary(capsys):
    assert main(["trial", "--set", "steps=4", "eval_every=2", "replicas=2", *TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("done: 4 steps x 2 replicas in ")
    final = [line.split() for line in lines[-4:-2]]  # the table's last eval: step 4
    assert [row[:2] for row in final] == [["4", "0"], ["4", "1"]]
    assert lines[-1] == f"outcome: replica 0 {final[0][-1]}, replica 1 {final[1][-1]}"


@pytest.fixture
def torch_threads_restored():
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


@pytest.mark.usefixtures("torch_threads_restored")
def test_threads_default_to_one_and_follow_the_environment_and_the_flag(monkeypatch, capsys):
    """The trainer trains on 1 thread unless GANSTUDY_THREADS or --threads says otherwise,
    and leaves torch's own setting as it found it."""
    from ganstudy.engine.trainer import Trainer

    seen = []  # torch's thread count inside each training iteration
    iteration = Trainer.alternating_iteration

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return iteration(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "alternating_iteration", spy)
    trial = ["trial", "--set", "steps=1", "eval_every=1", *TINY, "--json"]
    monkeypatch.delenv(THREADS_ENV, raising=False)
    torch.set_num_threads(2)  # torch's default on this 2-core machine
    assert main(trial) == 0
    assert seen == [DEFAULT_THREADS] == [1] and torch.get_num_threads() == 2  # restored
    assert capsys.readouterr().err.splitlines()[0].endswith(", 1 torch thread")
    monkeypatch.setenv(THREADS_ENV, "3")
    assert main(trial) == 0 and seen[-1] == 3
    assert capsys.readouterr().err.splitlines()[0].endswith(", 3 torch threads")
    assert main([*trial, "--threads", "4"]) == 0 and seen[-1] == 4
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)  # conftest's setting for the other tests


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--threads", "0"], {}, "--threads: got 0; expected 1 to 1024 threads"),
        (["--threads", "two"], {}, "--threads: got 'two'"),
        ([], {THREADS_ENV: "many"}, "GANSTUDY_THREADS='many': expected a whole number"),
        ([], {THREADS_ENV: "0"}, "GANSTUDY_THREADS: got 0; expected 1 to 1024"),
    ],
)
def test_a_bad_thread_count_is_one_line_and_exit_2(monkeypatch, capsys, args, env, words):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        code = main(["trial", "--set", "steps=1", *args])
    except SystemExit as usage:  # argparse's own errors (our one line first)
        code = usage.code
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    assert words in captured.err


def test_threads_setting_order(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert threads_setting() == 1
    monkeypatch.setenv(THREADS_ENV, " 4 ")
    assert threads_setting() == 4 and threads_setting(2) == 2
