"""The live display: status lines counting runs, the running configurations, the last few
that ended; one block redrawn in place in a terminal (clipped to its width and height),
plain appended blocks in a pipe; a fused trial split into its configurations so that the
last block agrees with the summary printed after the run."""

from __future__ import annotations

import io
import os
import pty
import re
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import REPO, read_until_closed
from study_files import tiny_study

from ganstudy.cli import _summarize_study
from ganstudy.run import groups
from ganstudy.run.progress import (
    LAST_FINISHED,
    StatusDisplay,
    eta_seconds,
    fit,
    planned_runs,
    quiet_optuna,
)
from ganstudy.study import results
from ganstudy.study.spec import spec_from_dict

UP = re.compile(r"\x1b\[(\d+)F\x1b\[J")  # the redraw: up to the block's first line, clear


def study(trials: int, **changes) -> dict:
    return {
        "name": "big",
        "target": "ring8",
        "steps": 1000,
        "eval_every": 100,
        "replicas": 2,
        "metric": "js_binned",
        "mode": "min",
        "params": {"seed": {"grid": list(range(trials))}},
        **changes,
    }


def rows(step: int, js: list[float], outcomes: list[str], member: int | None = None) -> list:
    """One eval's rows, one per replica."""
    return [
        {"step": step, "replica": r, "js_binned": j, "d_real": 0.5, "d_fake": 0.5, "outcome": o}
        | ({} if member is None else {"member": member})
        for r, (j, o) in enumerate(zip(js, outcomes, strict=True))
    ]


def trial(i: int, status: str, step: int | None = None, seconds: float = 10.0, **config):
    result = {} if step is None else {"step": step, "time_total_s": seconds}
    return SimpleNamespace(
        trial_id=f"t{i:04d}", status=status, config={"seed": i, **config}, last_result=result
    )


class Rows:
    """The display's rows_of: each trial's rows by (trial id, step); counts the reads."""

    def __init__(self):
        self.by_trial: dict[tuple[str, int], list] = {}
        self.reads = 0

    def __call__(self, t, step: int):
        self.reads += 1
        return self.by_trial.get((t.trial_id, step))


def test_a_thousand_trial_study_prints_a_bounded_block_counting_runs():
    spec = spec_from_dict(study(1000))
    source = Rows()
    trials = []
    for i in range(300):  # 2 replicas each: 400 runs mode_collapse, 200 converged
        trials.append(trial(i, "TERMINATED", step=1000))
        outcome = "mode_collapse" if i % 3 else "converged"
        source.by_trial[(trials[-1].trial_id, 1000)] = rows(
            1000, [0.5 - i / 1000, 0.5 - i / 1000 + 0.002], [outcome, outcome]
        )
    trials += [trial(300, "ERROR", step=300)]
    source.by_trial[("t0300", 300)] = rows(300, [0.6, 0.6], ["oscillating", "diverged"])
    trials += [trial(i, "RUNNING", step=500) for i in range(301, 305)]
    trials += [trial(i, "PENDING") for i in range(305, 1000)]
    display = StatusDisplay(spec, stream=io.StringIO(), rows_of=source, clock=lambda: 0.0)
    lines = display.render(trials)
    running = 4
    assert lines[0] == "== big: 602/2000 runs ended, 8 running | 0:00 elapsed, ETA ~29:07"
    # ETA: 10 s a configuration x 699 left / 4 running at once = 1747 s.
    assert lines[1] == (
        "   600 finished, 2 error | 400 mode_collapse, 200 converged, 1 oscillating, 1 diverged"
    )
    # The best configuration's mean over its 2 replicas: (0.201 + 0.203) / 2.
    assert lines[2] == "   best js_binned 0.202 (t0299)"
    body = lines[4:]  # under the header
    assert [row.split()[0] for row in body[:running]] == [f"t{i:04d}" for i in range(301, 305)]
    assert len(body) == running + LAST_FINISHED
    assert source.reads == 305  # every trial with a report, read once
    display.render(trials)
    assert source.reads == 305  # ... and not again until it reports a new step
    trials[301].last_result["step"] = 600
    display.render(trials)
    assert source.reads == 306


def test_a_run_stopped_before_its_last_step_shows_as_stopped():
    spec = spec_from_dict(study(3))
    source = Rows()
    trials = [trial(0, "TERMINATED", step=1000), trial(1, "TERMINATED", step=300)]
    source.by_trial[("t0000", 1000)] = rows(1000, [0.2, 0.3], ["converged"] * 2)
    source.by_trial[("t0001", 300)] = rows(300, [0.6, 0.6], ["not_converged"] * 2)
    lines = StatusDisplay(spec, stream=io.StringIO(), rows_of=source).render(trials)
    assert lines[1] == "   2 finished, 2 stopped | 2 converged, 2 not_converged"
    table = {line.split()[0]: line.split()[1:4:2] for line in lines[4:]}  # status, step
    assert table == {"t0000": ["finished", "1000/1000"], "t0001": ["stopped", "300/1000"]}


def test_elapsed_counts_from_the_commands_start_and_a_line_says_ray_is_starting():
    spec = spec_from_dict(study(2))
    log = io.StringIO()
    display = StatusDisplay(spec, stream=log, clock=lambda: 100.0, started_at=40.0)
    display.starting(None)
    display.report([trial(0, "PENDING")], done=False)
    assert log.getvalue().splitlines()[:2] == [
        "big: starting Ray on this machine ...",
        "== big: 0/4 runs ended, 0 running | 1:00 elapsed",
    ]


def test_planned_runs_follow_swept_replicas():
    assert planned_runs(spec_from_dict(study(3))) == 6
    swept = study(3, params={"seed": {"grid": [0, 1, 2]}, "replicas": {"grid": [1, 4]}})
    swept.pop("replicas")
    assert planned_runs(spec_from_dict(swept)) == 3 * (1 + 4)
    sampled = dict(swept, search={"algorithm": "random", "num_samples": 2})
    sampled["params"] = {"replicas": {"randint": [1, 4]}}
    assert planned_runs(spec_from_dict(sampled)) is None  # known once drawn


def test_a_pipe_gets_plain_appended_blocks(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    spec = spec_from_dict(study(3))
    log = io.StringIO()
    display = StatusDisplay(spec, stream=log)
    assert not display.redraw and display.every_s == 30.0
    display.report([trial(0, "RUNNING", step=100)], done=False)
    assert not display.should_report([], done=False)  # within 30 s: no new block
    assert display.should_report([], done=True)
    display.report([trial(0, "TERMINATED", step=1000)], done=True)
    assert log.getvalue().count("== big:") == 2 and "\x1b" not in log.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def long_study() -> dict:
    """Swept values wide enough that the table's lines pass 80 columns."""
    params = {"seed": {"grid": [0, 1]}, "loss": {"grid": ["nonsaturating", "least_squares"]}}
    params |= {"lr_d": {"grid": [0.000123456789, 0.0002]}, "lr_g": {"grid": [0.0003, 0.0004]}}
    return study(0, params=params)


def test_a_terminal_block_fits_80_columns_and_redraws_exactly_its_height(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "30")
    spec = spec_from_dict(long_study())
    screen = Terminal()
    display = StatusDisplay(spec, stream=screen)
    wide = {"loss": "least_squares", "lr_d": 0.000123456789, "lr_g": 0.0003}
    display.report([trial(0, "RUNNING", step=100, **wide)], done=False)
    first = screen.getvalue()
    assert max(len(line) for line in first.splitlines()) == 79  # clipped, with a mark
    assert any(line.endswith("…") for line in first.splitlines())
    display.report([trial(0, "TERMINATED", step=1000, **wide)], done=True)
    second = screen.getvalue()[len(first) :]
    assert [int(n) for n in UP.findall(second)] == [first.count("\n")]
    assert all(len(line) <= 79 for line in UP.sub("", second).splitlines())


def test_a_block_taller_than_the_terminal_is_cut_to_fit():
    lines = [f"line {i}" for i in range(40)]
    assert fit(lines, 80, 10) == [*lines[:8], "   ... 32 more lines"]
    assert fit(["x" * 100], 80, 30) == ["x" * 78 + "…"]


# The display in a real pseudo-terminal of 80 columns, as a study's `ganstudy run` drives it.
PTY_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from types import SimpleNamespace
    from ganstudy.run.progress import StatusDisplay
    from ganstudy.study.spec import spec_from_dict
    import test_run_progress as t

    display = StatusDisplay(spec_from_dict(t.long_study()))
    display.starting(None)
    wide = {"loss": "least_squares", "lr_d": 0.000123456789, "lr_g": 0.0003}
    for step in (100, 200, 300):
        display.report([t.trial(i, "RUNNING", step=step, **wide) for i in range(3)], done=False)
    display.report([t.trial(i, "TERMINATED", step=1000, **wide) for i in range(3)], done=True)
    print("after")
    """
)


def test_the_display_in_an_80_column_pseudo_terminal():
    import fcntl
    import termios

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    path = os.pathsep.join(str(p) for p in (REPO, REPO / "tests", Path(__file__).parent))
    env = os.environ | {"TERM": "xterm", "PYTHONPATH": path}
    env.pop("COLUMNS", None), env.pop("LINES", None)
    process = subprocess.Popen(
        [sys.executable, "-c", PTY_SCRIPT], stdout=child, stderr=child, env=env, cwd=REPO
    )
    os.close(child)
    out = read_until_closed(main, 120)
    assert process.wait(timeout=30) == 0
    text = out.decode().replace("\r\n", "\n")
    blocks = UP.split(text)
    # Four blocks: the first after the starting line, then three redraws, each moving up
    # exactly the height of the block before it; no line reaches the 80th column.
    heights = [int(n) for n in UP.findall(text)]
    assert len(heights) == 3
    drawn = [blocks[0].split("\n", 1)[1], *blocks[2::2]]
    assert blocks[0].startswith("big: starting Ray on this machine ...\n")
    for height, block in zip(heights, drawn, strict=False):
        assert block.count("\n") == height
    assert all(len(line) < 80 for line in text.split("\n")), text
    assert drawn[-1].endswith("after\n") and "(done)" in drawn[-1]


# ---------------------------------------------------------------------- fused studies


def test_a_fused_trials_status_counts_what_the_summary_after_the_run_counts(tmp_path, capsys):
    spec = spec_from_dict(
        tiny_study("fz", 200, fuse="auto", params={"lr_d": {"grid": [1e-3, 2e-3, 3e-3]}})
    )
    [chunk_a, chunk_b] = groups.plan(groups.configurations(spec), spec.fuse_max, slots=2)
    source = Rows()
    # Members train 2 replicas each; the first group ends at its last step, the second is
    # stopped at step 100 (ASHA). Outcomes and final metrics differ by member and replica.
    group_rows = {
        "ga": [
            *rows(200, [0.10, 0.30], ["converged", "mode_collapse"], member=0),
            *rows(200, [0.05, 0.07], ["converged", "converged"], member=1),
            *rows(200, [0.60, float("nan")], ["oscillating", "diverged"], member=2),
        ],
        "gb": [
            *rows(100, [0.40, 0.50], ["mode_collapse", "mode_collapse"], member=0),
            *rows(100, [0.20, 0.25], ["not_converged", "converged"], member=1),
            *rows(100, [0.02, 0.90], ["converged", "mode_collapse"], member=2),
        ],
    }
    earlier = {
        "ga": rows(100, [0.5] * 2, ["oscillating"] * 2, 0),
        "gb": rows(0, [0.7] * 2, ["oscillating"] * 2, 0),
    }
    trials, records = [], []
    for name, chunk, step in (("ga", chunk_a, 200), ("gb", chunk_b, 100)):
        config = {groups.MEMBERS_KEY: groups.encode(chunk)}
        trials.append(
            SimpleNamespace(
                trial_id=name,
                status="TERMINATED",
                config=config,
                last_result={"step": step, "js_binned": 0.3, "outcome": "converged"},
            )
        )
        source.by_trial[(name, step)] = group_rows[name]
        status = "finished" if step == 200 else "stopped"
        history = earlier[name] + group_rows[name]
        records += groups.split_record(
            results.TrialRecord(name, config, status, None, 1.0, history=history)
        )
    assert len(chunk_a) == len(chunk_b) == 3  # 6 configurations in 2 Ray trials
    lines = StatusDisplay(spec, stream=io.StringIO(), rows_of=source).render(trials, done=True)

    results.write_tables(records, spec, tmp_path)
    (tmp_path / results.SPEC_FILE).write_text(spec.to_yaml())
    _summarize_study(tmp_path, "resume")
    summary = capsys.readouterr().out.splitlines()
    # The summary: "6 trials started, 12 replica runs: 5 converged, 4 mode_collapse, ...".
    runs, outcomes = re.match(r"\n?6 trials started, (\d+) replica runs: (.*)", summary[1]).groups()
    assert lines[0].startswith(f"== fz: {runs}/12 runs ended, 0 running")
    counted = dict(reversed(pair.split(" ")) for pair in outcomes.split(", "))
    shown = dict(reversed(pair.split(" ")) for pair in lines[1].split(" | ")[1].split(", "))
    assert (
        shown
        == counted
        == {
            "converged": "5",
            "mode_collapse": "4",
            "oscillating": "1",
            "diverged": "1",
            "not_converged": "1",
        }
    )
    assert lines[1].startswith("   6 finished, 6 stopped |")
    # Best: member 1 of ga, mean (0.05 + 0.07) / 2 = 0.06, named as the tables name it.
    best = re.match(r"best by js_binned \(min\): (\S+) js_binned=(\S+)", summary[2]).groups()
    assert best == ("ga.1", "0.06")
    assert lines[2] == "   best js_binned 0.06 (ga.1)"
    assert {line.split()[0] for line in lines[4:]} == {f"g{g}.{m}" for g in "ab" for m in range(3)}


def test_optuna_says_nothing_while_a_study_runs(capfd):
    import optuna

    optuna_study = study(0, search={"algorithm": "optuna", "num_samples": 2})
    spec = spec_from_dict(optuna_study | {"params": {"seed": {"choice": [0, 1]}}})
    before = optuna.logging.get_verbosity()
    try:
        quiet_optuna(spec)
        optuna.create_study()
        assert "A new study created" not in capfd.readouterr().err
    finally:
        optuna.logging.set_verbosity(before)


@pytest.mark.parametrize("algorithm", ["grid", "random"])
def test_other_searches_leave_optunas_logging_alone(algorithm):
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        quiet_optuna(spec_from_dict(study(2, search={"algorithm": algorithm, "num_samples": 1})))
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(before)


@pytest.mark.slow
def test_a_fused_study_through_ray_shows_what_its_summary_says(tmp_path, capsys):
    from study_files import write_study

    from ganstudy.cli import main

    study = tiny_study("fr", 40, ["minimax", "hinge"], eval_every=20, fuse="auto")
    study |= {"max_concurrent": 2, "params": study["params"] | {"lr_d": {"grid": [1e-3, 2e-3]}}}
    study["params"] |= {"d_width": 8, "g_width": 8, "eval_samples": 400}
    out = tmp_path / "fr"
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed  # captured: not a terminal, plain appended blocks
    assert "fr: starting Ray on this machine ..." in printed
    last = printed[printed.rindex("== fr:") :].splitlines()
    runs, outcomes = re.search(r"4 trials started, (\d+) replica runs: (.*)", printed).groups()
    assert last[0].startswith(f"== fr: {runs}/8 runs ended, 0 running | ") and runs == "8"
    assert last[0].endswith("elapsed (done)")
    counted = dict(reversed(pair.split(" ")) for pair in outcomes.split(", "))
    shown = dict(reversed(pair.split(" ")) for pair in last[1].split(" | ")[1].split(", "))
    assert shown == counted
    best, value = re.search(r"best by js_binned \(min\): (\S+) js_binned=(\S+)", printed).groups()
    assert last[2] == f"   best js_binned {value} ({best})"
    ids = set(results.load_results(out).trials["trial_id"])
    assert {line.split()[0] for line in last[4:8]} == ids  # the tables' configurations


def test_eta_is_the_mean_time_a_configuration_takes_not_the_slowest():
    # Configurations that took 10, 20 and 60 s: 30 s each on average (the slowest would
    # say 60). 5 left, 2 Ray trials running at once: 30 x 5 / 2 = 75 s.
    assert eta_seconds([10.0, 20.0, 60.0], left=5, running_trials=2) == 75.0
    assert eta_seconds([], left=5, running_trials=2) is None  # nothing ended: no estimate
    assert eta_seconds([10.0], left=5, running_trials=0) is None
    assert eta_seconds([10.0], left=0, running_trials=1) is None


def test_eta_of_a_fused_study_counts_ray_trials_running_not_their_members():
    """8 configurations fused in groups of 4: the first group took 40 s and ended, the
    second (4 configurations) runs alone. It will take about 40 s more, not 10 (each
    member's 10 s share divided again by the 4 members running together) nor 160."""
    spec = spec_from_dict(study(8, fuse="auto"))

    def group(g: int, status: str, step: int | None) -> SimpleNamespace:
        members = groups.encode([{"seed": 4 * g + j} for j in range(4)])
        result = {} if step is None else {"step": step, "time_total_s": 40.0}
        return SimpleNamespace(
            trial_id=f"g{g}", status=status, config={groups.MEMBERS_KEY: members},
            last_result=result,
        )  # fmt: skip

    display = StatusDisplay(spec, stream=io.StringIO(), rows_of=Rows())
    status = display.render([group(0, "TERMINATED", 1000), group(1, "RUNNING", None)])[0]
    assert "ETA ~0:40" in status, status
