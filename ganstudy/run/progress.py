"""The live display of a running study: a few status lines, the running configurations, the
last few that ended. In a terminal it is one block redrawn in place, every line clipped to
the terminal's width and the block to its height (a wrapped line would break the redraw);
elsewhere (a pipe, a log, CI, TERM=dumb) it appends a plain block at most every 30 s.

    == balance: 42/216 runs ended, 6 running | 3:05 elapsed, ETA ~12:40
       40 finished, 2 stopped | 27 mode_collapse, 9 converged, 6 oscillating
       best js_binned 0.231 (a1b2c3d4)
       trial     status   k  lr_d  step      js_binned  D(x)  D(G(z))

One unit throughout, as the summary after the run has it: a *run* is one replica of one
configuration, and every count (ended, running, finished, stopped, error, each outcome) is
of runs; a *configuration* is a row of the table and what "best" names (its replicas' mean
final metric). A fused Ray trial (fuse: auto) is split into its member configurations, its
rows into theirs, as the tables split it (groups.split_record). Each configuration's
replicas and outcomes are read from the eval rows its trial wrote for its latest report
(run/trainable.py), the rows the tables are built from, so the last block agrees with the
summary printed after it. A run that ended before its last step is "stopped" (ASHA), not
"finished".

A study of 1,000 trials prints at most (running configurations + LAST_FINISHED + 4) lines.
"""

from __future__ import annotations

import collections
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ray.tune import ProgressReporter

from ganstudy.run.groups import MEMBERS_KEY, configurations, member_rows, members_of
from ganstudy.study.spec import StudySpec

# A run's status as the tables name it (columns.STATUSES), from Ray's trial state.
RAY_STATUS = {"ERROR": "error", "RUNNING": "running", "PENDING": "pending", "PAUSED": "paused"}
ENDED = ("finished", "stopped", "error")
LAST_FINISHED = 8  # ended configurations shown under the running ones
TERMINAL_EVERY_S = 2.0  # redraw period in a terminal
LOG_EVERY_S = 30.0  # a log gets a new block at most this often

# The eval rows of a Ray trial's report at `step` (all its replicas, a fused trial's all
# members'), or None when they cannot be read.
RowsOf = Callable[[Any, int], "list[dict[str, Any]] | None"]


@dataclass
class Entry:
    """One configuration as the display shows it (a fused Ray trial holds several)."""

    trial_id: str  # the tables' trial_id: Ray's, `<id>.<member>` for a fused trial's member
    status: str  # finished, stopped, error, running, pending, paused
    config: dict[str, Any]
    replicas: int
    step: int | None  # of its latest report
    steps: int | None  # planned
    rows: list[dict[str, Any]] | None  # its replicas' rows at `step`; None: not known
    seconds: float | None  # its share of its Ray trial's time so far


class StatusDisplay(ProgressReporter):
    """Ray Tune progress reporter; see the module docstring. `rows_of` reads a trial's eval
    rows (default: the files the trainable wrote); `clock` is time.monotonic, on which
    `started_at` is the time elapsed counts from (default: now)."""

    def __init__(
        self,
        spec: StudySpec,
        stream: TextIO | None = None,
        rows_of: RowsOf | None = None,
        clock: Callable[[], float] = time.monotonic,
        started_at: float | None = None,
    ):
        self.spec = spec
        # None: sys.stdout as it is when written to (Ray pickles the reporter with its run
        # configuration; a captured stdout cannot be pickled, the name of one can).
        self._stream = stream
        self.redraw = _can_redraw(self.stream)
        self.every_s = TERMINAL_EVERY_S if self.redraw else LOG_EVERY_S
        self.swept = list(spec.dimensions)
        self.configurations = spec.num_trials()
        self.runs = planned_runs(spec)
        self.rows_of = rows_of or trial_rows
        self.clock = clock
        # Elapsed counts from the command's start (Ray's start-up included), else from now.
        self._start = clock() if started_at is None else started_at
        self._last = -math.inf
        self._drawn = 0  # lines of the previous block, moved up over before a redraw
        self._ended_order: dict[str, float] = {}  # entry id -> when first seen ended
        # Each trial's rows at its latest reported step: read once per report, and only the
        # latest kept (a long study's earlier evals would add up).
        self._rows: dict[str, tuple[int, list[dict[str, Any]] | None]] = {}

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    # ---------------------------------------------------------------------- Ray's interface
    def should_report(self, trials, done: bool = False) -> bool:
        return done or self.clock() - self._last >= self.every_s

    def report(self, trials, done: bool, *sys_info) -> None:
        self._last = self.clock()
        self.show(self.render(trials, done))

    # ------------------------------------------------------------------------------ output
    def starting(self, address: str | None) -> None:
        """The line printed while Ray starts (tens of seconds on a busy machine)."""
        where = f"connecting to Ray at {address}" if address else "starting Ray on this machine"
        self.show_line(f"{self.spec.name}: {where} ...")

    def show_line(self, line: str) -> None:
        """A line above the block (kept when the block is redrawn)."""
        if self.redraw:
            line = _clip(line, self._size()[0])
        self.stream.write(line + "\n")
        self.stream.flush()

    def show(self, lines: list[str]) -> None:
        """Draw a block: in place of the previous one in a terminal, else appended."""
        out = ""
        if self.redraw:
            lines = fit(lines, *self._size())
            if self._drawn:
                out = f"\x1b[{self._drawn}F\x1b[J"  # up to the block's first line, clear below
            self._drawn = len(lines)
        self.stream.write(out + "\n".join(lines) + "\n")
        self.stream.flush()

    def _size(self) -> tuple[int, int]:
        """(columns, lines) of the terminal the stream writes to."""
        try:
            size = os.get_terminal_size(self.stream.fileno())
        except (AttributeError, OSError, ValueError):  # no terminal behind it (a test's)
            size = shutil.get_terminal_size()
        return size.columns, size.lines

    # ----------------------------------------------------------------------------- content
    def render(self, trials, done: bool = False) -> list[str]:
        """The block of lines for one update (status lines first), unclipped."""
        now = self.clock()
        entries = [entry for t in trials for entry in self.entries(t)]
        for e in entries:
            if e.status in ENDED:
                self._ended_order.setdefault(e.trial_id, now)
        ended = sorted(
            (e for e in entries if e.status in ENDED), key=lambda e: self._ended_order[e.trial_id]
        )
        running = [e for e in entries if e.status == "running"]
        lines = self._status_lines(ended, running, now, done)
        shown = [*running, *ended[-LAST_FINISHED:]]
        if shown:
            lines += _table(self._header(), [self._row(e) for e in shown])
        return lines

    def entries(self, trial) -> list[Entry]:
        """A Ray trial's configurations: its members if fused, else itself."""
        result = trial.last_result or {}
        step = result.get("step") if isinstance(result.get("step"), int) else None
        rows = None
        if step is not None:
            cached = self._rows.get(trial.trial_id)
            if cached is None or cached[0] != step:
                cached = self._rows[trial.trial_id] = (step, _safely(self.rows_of, trial, step))
            rows = cached[1]
        fused = MEMBERS_KEY in (trial.config or {})
        members = members_of(trial.config or {})
        seconds = result.get("time_total_s")
        share = seconds / len(members) if _finite(seconds) else None
        out = []
        for m, member in enumerate(members):
            config = {**self.spec.fixed, **member}
            steps = config.get("steps")
            if trial.status == "TERMINATED":
                status = "finished" if step is not None and step == steps else "stopped"
            else:
                status = RAY_STATUS.get(trial.status, str(trial.status).lower())
            out.append(
                Entry(
                    trial_id=f"{trial.trial_id}.{m}" if fused else trial.trial_id,
                    status=status,
                    config=config,
                    replicas=int(config.get("replicas") or 1),
                    step=step,
                    steps=steps,
                    rows=None if rows is None else member_rows(rows, m),
                    seconds=share,
                )
            )
        return out

    def _status_lines(self, ended, running, now: float, done: bool) -> list[str]:
        runs = _runs(ended)
        total = f"/{self.runs}" if self.runs is not None else ""
        clock = f"{_clock(now - self._start)} elapsed"
        first = f"== {self.spec.name}: {runs}{total} runs ended, {_runs(running)} running | "
        lines = [first + clock + (" (done)" if done else self._eta(ended, running))]
        if not ended:
            return lines
        by_status = collections.Counter()
        for e in ended:
            by_status[e.status] += e.replicas
        counts = ", ".join(f"{by_status[s]} {s}" for s in ENDED if by_status[s] or s == "finished")
        outcomes = collections.Counter(
            row.get("outcome") for e in ended for row in e.rows or () if row.get("outcome")
        )
        if outcomes:
            counts += " | " + ", ".join(f"{n} {o}" for o, n in outcomes.most_common())
        lines.append("   " + counts)
        best = self._best(ended)
        if best:
            lines.append("   " + best)
        return lines

    def _eta(self, ended, running) -> str:
        # A fused Ray trial trains its members together: it is one slot, not one per member.
        slots = len({e.trial_id.split(".")[0] for e in running})
        timed = [e.seconds for e in ended if e.seconds is not None]
        seconds = eta_seconds(timed, self.configurations - len(ended), slots)
        return "" if seconds is None else f", ETA ~{_clock(seconds)}"

    def _best(self, ended) -> str:
        """The ended configuration with the best mean final metric over its replicas (the
        summary's rule after the run)."""
        scored = [(self._mean(e, self.spec.metric), e.trial_id) for e in ended]
        scored = [(value, trial) for value, trial in scored if _finite(value)]
        if not scored:
            return ""
        value, trial = min(scored) if self.spec.mode == "min" else max(scored)
        return f"best {self.spec.metric} {value:.4g} ({trial})"

    def _mean(self, e: Entry, name: str) -> float | None:
        """A metric's mean over the configuration's replicas that have a finite value."""
        if not e.rows:
            return None
        values = [row.get(name) for row in e.rows]
        finite = [v for v in values if _finite(v)]
        return sum(finite) / len(finite) if finite else math.nan

    def _header(self) -> list[str]:
        return ["trial", "status", *self.swept, "step", self.spec.metric, "D(x)", "D(G(z))"]

    def _row(self, e: Entry) -> list[str]:
        step = "-" if e.step is None else e.step
        return (
            [e.trial_id, e.status]
            + [_short(e.config.get(k)) for k in self.swept]
            + [f"{step}/{e.steps if e.steps is not None else '?'}"]
            + [_short(self._mean(e, name)) for name in (self.spec.metric, "d_real", "d_fake")]
        )


class Silent(ProgressReporter):
    """No display (`ganstudy run --quiet`)."""

    def should_report(self, trials, done: bool = False) -> bool:
        return False

    def starting(self, address: str | None) -> None:
        pass


def quiet_optuna(spec: StudySpec) -> None:
    """Optuna's INFO lines ("A new study created in RDB ...") silenced in this process for
    an optuna study: they would land in the middle of the display. Warnings still show."""
    if spec.search.algorithm == "optuna":
        import optuna  # an optuna study imports it anyway

        optuna.logging.set_verbosity(optuna.logging.WARNING)


def trial_rows(trial, step: int) -> list[dict[str, Any]] | None:
    """The eval rows a Ray trial wrote for its report at `step` (run/trainable.py's files)."""
    from ganstudy.run.trainable import step_rows  # torch: only once a study runs

    return step_rows(trial.storage.storage_filesystem, trial.path, step)


def planned_runs(spec: StudySpec) -> int | None:
    """Runs (configurations x replicas) the study plans; None when sampled replicas make
    the number unknown until they are drawn."""
    replicas = spec.fixed.get("replicas")
    if replicas is not None:
        return spec.num_trials() * int(replicas)
    if spec.dimensions["replicas"].kind == "grid":
        return sum(int(config["replicas"]) for config in configurations(spec))
    return None


def fit(lines: list[str], columns: int, height: int) -> list[str]:
    """A block that a terminal of `columns` x `height` shows without wrapping or scrolling
    (so moving the cursor up by its line count reaches its first line): every line clipped
    to columns - 1 (a line of exactly `columns` leaves some terminals' cursor pending a
    wrap), at most height - 1 lines, the last saying how many were left out."""
    most = max(height - 1, 2)
    if len(lines) > most:
        lines = [*lines[: most - 1], f"   ... {len(lines) - most + 1} more lines"]
    return [_clip(line, columns) for line in lines]


def _clip(line: str, columns: int) -> str:
    width = max(columns - 1, 10)
    return line if len(line) <= width else line[: width - 1] + "…"


def _can_redraw(stream: TextIO) -> bool:
    """A terminal that moves its cursor: a tty whose TERM is not "dumb"."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False
    return tty and os.environ.get("TERM", "dumb") != "dumb"


def _safely(rows_of: RowsOf, trial, step: int) -> list[dict[str, Any]] | None:
    """rows_of(trial, step), or None when they cannot be read: the display never stops a
    study (a file being written, storage that does not answer)."""
    try:
        return rows_of(trial, step)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _runs(entries: list[Entry]) -> int:
    return sum(e.replicas for e in entries)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return [
        " ".join(str(cell).rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]


def eta_seconds(shares: list[float], left: int, running_trials: int) -> float | None:
    """Seconds until `left` configurations end: the ended configurations' mean share of
    their Ray trial's time (a fused trial's time over its members) x `left` / the Ray
    trials running at once. None before any ended or while none runs. Each running Ray
    trial gets through a configuration per mean share: a fused one of G members takes G
    shares for its G together."""
    if not shares or running_trials <= 0 or left <= 0:
        return None
    return sum(shares) / len(shares) * left / running_trials


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3g}"
    return str(value)
