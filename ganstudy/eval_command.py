"""`ganstudy eval --target T --samples FILE`: ganstudy's metrics of samples generated
anywhere (sample_metrics.evaluate_samples), as a table or JSON; bad input is one line and
exit 2."""

from __future__ import annotations

import json
import math
import os
import textwrap
import typing

import numpy as np

from ganstudy.columns import BY_NAME, why_nan
from ganstudy.config import ConfigError, TargetName
from ganstudy.messages import clip_middle, fail, shown

SAMPLE_FILES = (".npy", ".npz")
WIDTH = 80  # the table fits an 80-column terminal


def eval_command(
    target: str,
    path: str,
    key: str | None,
    settings: dict[str, str],
    as_json: bool,
) -> int:
    """Measure the samples in `path` against `target`, print the table (or JSON); exit code."""
    known = typing.get_args(TargetName)
    if target not in known:
        return fail(f"--target {shown(target)}: unknown target; known: {', '.join(known)}")
    try:
        samples = load_samples(path, key)
    except ValueError as error:
        return fail(f"{clip_middle(path)}: {error}")
    from ganstudy.engine.sample_metrics import (  # torch: only once the input is known to be sound
        NOT_FROM_SAMPLES,
        SAMPLE_METRICS,
        SamplesError,
        evaluate_samples,
    )

    try:
        values = evaluate_samples(target, samples, **settings)
    except ConfigError as error:  # a setting, or a data target's files (targets/files.py)
        if error.key == "data_dir":
            return fail(f"{error} (ganstudy eval takes it as --data-dir DIR)")
        return fail(f"--set {error}" if error.key in settings else str(error))
    except SamplesError as error:
        return fail(f"{clip_middle(path)}: {error}")
    missing = {name: why_nan(name) for name in SAMPLE_METRICS if math.isnan(values[name])}
    missing = NOT_FROM_SAMPLES | missing
    if as_json:
        print(
            json.dumps(
                {
                    "target": target,
                    "samples": len(samples),
                    "file": path,
                    "settings": settings,
                    "metrics": {k: None if math.isnan(v) else v for k, v in values.items()},
                    "not_measured": missing,
                }
            )
        )
        return 0
    print(f"{target}: {len(samples)} samples from {clip_middle(path)}")
    for line in format_table(values, missing):
        print(line)
    return 0


def format_table(values: dict[str, float], missing: dict[str, str]) -> list[str]:
    """One line per metric: name, value ('-' where not measured, with why), meaning."""
    names = [*(n for n in missing if n not in values), *values]
    width = max(len(name) for name in names)
    lines = []
    for name in names:
        value = values.get(name, math.nan)
        if math.isnan(value):
            lines.append(f"{name:<{width}}  {'-':>9}  not measured: {missing[name]}")
            continue
        column = BY_NAME[name]
        unit = f" [{column.unit}]" if column.unit else ""
        lines.append(f"{name:<{width}}  {value:>9.4g}  {column.meaning}{unit}")
    indent = " " * (width + 13)  # under the meaning
    return [textwrap.fill(line, WIDTH, subsequent_indent=indent) for line in lines]


def load_samples(path: str, key: str | None) -> np.ndarray:
    """The array in a .npy file, or the one (or `key`'s) in a .npz; ValueError naming the
    problem and the fix (no pickled objects are ever loaded)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SAMPLE_FILES:
        raise ValueError(f"expected a {' or '.join(SAMPLE_FILES)} file (numpy.save, savez)")
    if not os.path.isfile(path):
        raise ValueError("no such file")
    if key is not None and suffix == ".npy":
        raise ValueError("--key names an array of a .npz file; leave it out for a .npy")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"not a numpy {suffix} file ({_first_line(error)})") from None
    if suffix == ".npy":
        return loaded
    with loaded:
        keys = list(loaded.files)
        if key is None and len(keys) == 1:
            key = keys[0]
        if key is None or key not in keys:
            given = f"no array {shown(key)}" if key is not None else f"{len(keys)} arrays"
            raise ValueError(f"{given} ({', '.join(keys) or 'none'}); name one with --key")
        try:
            return loaded[key]
        except ValueError as error:  # an object array: refused, never unpickled
            raise ValueError(f"array {key}: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
