"""The live display of a running study: one status line, the running trials, the last few
finished ones. In a terminal it redraws in place; in a log it appends, at most every 30 s.

    == balance: 14/72 done, 2 running, 0 failed | 3:05 elapsed, ETA ~12:40 |
       9 mode_collapse, 3 converged, 2 oscillating | best js_binned 0.231 (a1b2c3d4)

A study of 1,000 trials prints at most (running trials + LAST_FINISHED + 2) lines an update.
"""

from __future__ import annotations

import collections
import math
import sys
import time
from typing import Any, TextIO

from ray.tune import ProgressReporter

from ganstudy.run.groups import MEMBERS_KEY, members_of
from ganstudy.study.spec import StudySpec

# Ray's trial states as the display names them.
SHOWN_STATUS = {"TERMINATED": "done", "ERROR": "error", "RUNNING": "running", "PENDING": "pending"}
LAST_FINISHED = 8  # finished trials shown under the running ones
TERMINAL_EVERY_S = 2.0  # redraw period in a terminal
LOG_EVERY_S = 30.0  # a log gets a new block at most this often


class StatusDisplay(ProgressReporter):
    """Ray Tune progress reporter; see the module docstring."""

    def __init__(self, spec: StudySpec, stream: TextIO | None = None):
        self.spec = spec
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.every_s = TERMINAL_EVERY_S if self.tty else LOG_EVERY_S
        self.swept = list(spec.dimensions)
        self.total = spec.num_trials()
        self._start = time.monotonic()
        self._last = -math.inf
        self._drawn = 0  # lines of the previous block, erased before a redraw in a terminal
        self._finished_order: dict[str, float] = {}  # trial id -> when first seen finished

    def should_report(self, trials, done: bool = False) -> bool:
        return done or time.monotonic() - self._last >= self.every_s

    def report(self, trials, done: bool, *sys_info) -> None:
        self._last = time.monotonic()
        lines = self.render(trials, done)
        if self.tty and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")  # up to the block's start, clear
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)

    def render(self, trials, done: bool = False) -> list[str]:
        """The block of lines for one update (status line first)."""
        now = time.monotonic()
        by_status = collections.defaultdict(list)
        for t in trials:
            by_status[t.status].append(t)
            if t.status in ("TERMINATED", "ERROR"):
                self._finished_order.setdefault(t.trial_id, now)
        ended = by_status["TERMINATED"] + by_status["ERROR"]
        running = by_status["RUNNING"]
        lines = [self._status_line(ended, running, by_status["ERROR"], now, done)]
        ended.sort(key=lambda t: self._finished_order[t.trial_id])
        shown = [*running, *ended[-LAST_FINISHED:]]
        if shown:
            lines += _table(self._header(), [self._row(t) for t in shown])
        return lines

    def _status_line(self, ended, running, failed, now: float, done: bool) -> str:
        elapsed = now - self._start
        parts = [
            # Configurations, not Ray trials: a fused trial (fuse: auto) counts its members.
            f"== {self.spec.name}: {_count(ended)}/{self.total} done, {_count(running)} running, "
            f"{_count(failed)} failed" + (" (configurations)" if self.spec.fuse == "auto" else ""),
            f"{_clock(elapsed)} elapsed" + ("" if done else self._eta(ended, running)),
        ]
        outcomes = collections.Counter(
            (t.last_result or {}).get("outcome") for t in ended if t.status == "TERMINATED"
        )
        outcomes.pop(None, None)
        if outcomes:
            parts.append(", ".join(f"{n} {o}" for o, n in outcomes.most_common()))
        best = self._best(ended)
        if best:
            parts.append(best)
        return " | ".join(parts) + (" (done)" if done else "")

    def _eta(self, ended, running) -> str:
        # Mean time of a finished trial x trials left / trials running at once.
        timed = [(t, (t.last_result or {}).get("time_total_s")) for t in ended]
        timed = [(t, s) for t, s in timed if isinstance(s, int | float) and math.isfinite(s)]
        left = self.total - _count(ended)
        if not timed or not running or left <= 0:
            return ""
        # Per configuration: a fused trial's time is its members' together.
        each = sum(s for _, s in timed) / _count([t for t, _ in timed])
        return f", ETA ~{_clock(each * left / _count(running))}"

    def _best(self, ended) -> str:
        metric = self.spec.metric
        scored = [
            (t.last_result[metric], t.trial_id)
            for t in ended
            if t.last_result and _finite(t.last_result.get(metric))
        ]
        if not scored:
            return ""
        value, trial = min(scored) if self.spec.mode == "min" else max(scored)
        return f"best {metric} {value:.3g} ({trial})"

    def _header(self) -> list[str]:
        return ["trial", "status", *self.swept, "step", self.spec.metric, "D(x)", "D(G(z))"]

    def _row(self, t) -> list[str]:
        r = t.last_result or {}
        return (
            [t.trial_id, SHOWN_STATUS.get(t.status, t.status.lower())]
            + [_short(t.config.get(k)) for k in self.swept]
            + [
                f"{r.get('step', 0)}/{self.spec.fixed.get('steps', '?')}",
                _short(r.get(self.spec.metric)),
                _short(r.get("d_real")),
                _short(r.get("d_fake")),
            ]
        )


class Silent(ProgressReporter):
    """No display (`ganstudy run --quiet`)."""

    def should_report(self, trials, done: bool = False) -> bool:
        return False


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(str(cell).rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def _count(trials) -> int:
    """Configurations in Ray trials: a fused trial's members, else one each."""
    return sum(len(members_of(t.config)) if MEMBERS_KEY in (t.config or {}) else 1 for t in trials)
