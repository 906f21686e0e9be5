"""`ganstudy bench`: measure every figure, check the targets, print a table or JSON."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganstudy.bench.figures import hardware_figure, metric_figure, reference_figure, replica_figure
from ganstudy.bench.fuse import fuse_figure
from ganstudy.bench.images import dcgan_figure
from ganstudy.bench.settings import FULL, QUICK
from ganstudy.bench.study import study_figure
from ganstudy.bench.table import format_table
from ganstudy.bench.targets import targets
from ganstudy.bench.thread_count import threads_figure
from ganstudy.bench.timing import default_threads, torch_threads
from ganstudy.engine.devices import resolve_device
from ganstudy.messages import IO_FAULT, clip_middle, detail, fail
from ganstudy.yamlfile import file_kind


def run_bench(
    quick: bool = False,
    *,
    threads: int | None = None,
    device: str = "auto",
    study: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure the six figures and check them against the issues' targets.

    quick: tiny samples, fewer rounds and replica counts, a 2-trial study of ~1 s trials
    (well under a minute in all; for tests). threads: torch threads for everything measured
    in this process (default: every core, see default_threads). study=False skips the Ray
    figure (recorded as skipped). log: progress lines (default: none). Returns a
    JSON-ready dict; `format_table` prints it.
    """
    s = QUICK if quick else FULL
    log = log or (lambda message: None)
    dev = resolve_device(device)
    threads = threads or default_threads()
    started = time.perf_counter()
    busy_before = _others_busy()
    figures: dict[str, Any] = {}
    with torch_threads(threads):
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("reference", lambda: reference_figure(s, dev)),
            ("replicas", lambda: replica_figure(s, dev)),
            ("hardware", lambda: hardware_figure(s, dev)),
            ("metrics", lambda: metric_figure(s, dev)),
            ("dcgan", lambda: dcgan_figure(s, dev)),
            ("threads", lambda: threads_figure(s, dev)),
        ]
        for name, measure in steps:
            log(f"bench: {name} ...")
            figures[name] = measure()
        if study:
            log("bench: study ...")
            try:
                figures["study"] = study_figure(s, log)
            except Exception as error:  # Ray missing or failing: the other figures stand
                figures["study"] = {"error": detail(error)}
        else:
            figures["study"] = {"skipped": "study=False"}
        if study:
            log("bench: fuse ...")
            try:
                figures["fuse"] = fuse_figure(s, log)
            except Exception as error:  # as for the study figure
                figures["fuse"] = {"error": detail(error)}
        else:
            figures["fuse"] = {"skipped": "study=False"}
    return {
        "mode": "quick" if quick else "full",
        "environment": _environment(dev, threads)
        | {"others_busy_before": busy_before, "others_busy_after": _others_busy()},
        "settings": {
            "rounds": s.rounds,
            "sample_s": s.sample_s,
            "metric_rounds": s.metric_rounds,
            "study_rounds": s.study_rounds,
            "fuse_train_rounds": s.fuse_train_rounds,
        },
        "figures": figures,
        "targets": targets(figures),
        "elapsed_s": time.perf_counter() - started,
    }


def _others_busy(seconds: float = 0.5) -> float | None:
    """Fraction of the machine's CPU time other processes use, sampled over `seconds` while
    this one sleeps (Linux /proc/stat; None elsewhere). Busy cores make figures noisy."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            jiffies = [int(v) for v in f.readline().split()[1:]]
        return sum(jiffies), jiffies[3] + jiffies[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def _environment(device: torch.device, threads: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu_count": os.cpu_count(),
        "threads": threads,
    }


def result_json(result: dict[str, Any]) -> str:
    """The result as JSON: plain JSON has no NaN or inf, so those become null."""
    return json.dumps(_finite(result), indent=2, allow_nan=False)


def bench_command(quick: bool, as_json: bool, out: str | None) -> int:
    """`ganstudy bench [--quick] [--json] [--out FILE]`: run, print, optionally save JSON."""
    if out is not None:
        problem = _unwritable(Path(out))
        if problem:  # found now, not after minutes of measuring
            return fail(f"--out {clip_middle(out)}: {problem}")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = run_bench(quick, log=log)
    text = result_json(result)
    # Printed first: a write that fails now (a full disk) loses nothing that was measured.
    print(text if as_json else format_table(result), flush=True)
    if out is not None:
        try:
            Path(out).write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            why = error.strerror or detail(error)
            return fail(f"--out {clip_middle(out)}: cannot write the results ({why})", IO_FAULT)
    return 0


def _unwritable(out: Path) -> str | None:
    """Why the bench could not write its JSON to `out`, or None when it can: checked before
    the bench runs by opening the file for appending (an existing file keeps its bytes; a
    new one is removed again)."""
    parent = out.resolve().parent
    if not parent.is_dir():
        return "its folder does not exist" if not parent.exists() else "its folder is a file"
    if out.exists():
        kind = file_kind(out.stat().st_mode)  # a pipe would block the open below
        if kind:
            return f"{kind}; give a file name, e.g. bench.json"
    existed = out.exists()
    try:
        with open(out, "a", encoding="utf-8"):
            pass
    except OSError as error:
        return f"cannot be written ({error.strerror or detail(error)})"
    if not existed:
        out.unlink(missing_ok=True)
    return None


def _finite(value: Any) -> Any:
    """JSON has no NaN or inf: null instead."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
