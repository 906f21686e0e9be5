"""The live display: a status line, the running trials, the last few finished ones."""

from __future__ import annotations

import io
from types import SimpleNamespace

from ganstudy.run.progress import LAST_FINISHED, StatusDisplay
from ganstudy.study.spec import spec_from_dict


def study(trials: int) -> dict:
    return {
        "name": "big",
        "target": "ring8",
        "steps": 1000,
        "eval_every": 100,
        "metric": "js_binned",
        "mode": "min",
        "params": {"seed": {"grid": list(range(trials))}},
    }


def trial(i: int, status: str, js: float | None = None, outcome: str = "converged"):
    result = (
        {}
        if js is None
        else {"step": 1000, "js_binned": js, "outcome": outcome, "time_total_s": 10.0}
    )
    return SimpleNamespace(
        trial_id=f"t{i:04d}", status=status, config={"seed": i}, last_result=result
    )


def test_a_thousand_trial_study_prints_a_bounded_block():
    spec = spec_from_dict(study(1000))
    display = StatusDisplay(spec, stream=io.StringIO())
    trials = (
        [
            trial(
                i,
                "TERMINATED",
                js=0.5 - i / 1000,
                outcome="mode_collapse" if i % 3 else "converged",
            )
            for i in range(300)
        ]
        + [trial(300, "ERROR")]
        + [trial(i, "RUNNING") for i in range(301, 305)]
        + [trial(i, "PENDING") for i in range(305, 1000)]
    )
    lines = display.render(trials)
    running = 4
    assert len(lines) <= running + 10
    status = lines[0]
    assert status.startswith("== big: 301/1000 done, 4 running, 1 failed")
    assert "200 mode_collapse, 100 converged" in status
    assert "best js_binned 0.201 (t0299)" in status
    # ETA: 10 s a trial x 699 left / 4 running at once = 1747 s.
    assert "ETA ~29:07" in status
    body = lines[2:]  # under the header
    assert [row.split()[0] for row in body[:running]] == [f"t{i:04d}" for i in range(301, 305)]
    assert len(body) == running + LAST_FINISHED


def test_a_log_gets_appended_blocks_and_a_terminal_redraws_in_place():
    spec = spec_from_dict(study(3))
    log = io.StringIO()
    display = StatusDisplay(spec, stream=log)
    assert not display.tty and display.every_s == 30.0
    display.report([trial(0, "RUNNING")], done=False)
    assert not display.should_report([], done=False)  # within 30 s: no new block
    assert display.should_report([], done=True)
    display.report([trial(0, "TERMINATED", js=0.2)], done=True)
    assert log.getvalue().count("== big:") == 2 and "\x1b[" not in log.getvalue()

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    display = StatusDisplay(spec, stream=screen)
    display.report([trial(0, "RUNNING")], done=False)
    first = screen.getvalue().count("\n")
    display.report([trial(0, "TERMINATED", js=0.2)], done=True)
    # The second block starts by moving up over the first block's lines and clearing them.
    assert f"\x1b[{first}F\x1b[J" in screen.getvalue()
