"""`ganstudy settings`: every TrialConfig setting (a study's `params:` key, a `--set` key, a
table column) with its default, the values it accepts and its meaning, all read from where
config.py declares them (the field's `setting(default, meaning)`, `LIMITS`, its type)."""

from __future__ import annotations

import json
import textwrap
import typing
from typing import Any

from ganstudy.config import FIELDS, HINTS, LIMITS, accepted

WIDTH = 80  # the table fits an 80-column terminal


def rows() -> list[dict[str, Any]]:
    """One dict per setting, in declaration order: name, default, accepts, range (lo, hi or
    None), meaning."""
    out = []
    for name, field in FIELDS.items():
        limit = LIMITS.get(name)
        out.append(
            {
                "name": name,
                "default": field.default,
                "accepts": accepts(name),
                "range": None if limit is None else [limit.lo, limit.hi],
                "meaning": field.metadata["meaning"],
            }
        )
    return out


def accepts(name: str) -> str:
    """The values a setting takes: its choices, or its type with its LIMITS range."""
    limit = LIMITS.get(name)
    if limit is None:
        return accepted(name)
    kinds = [t for t in typing.get_args(HINTS[name]) or (HINTS[name],) if t is not type(None)]
    words = " or ".join(t.__name__ for t in kinds)
    nullable = type(None) in typing.get_args(HINTS[name])
    return f"{words} in {limit}" + (", or null" if nullable else "")


def shown_default(value: Any) -> str:
    """A default as a study file writes it: null, true, 0.001, ring8."""
    return value if isinstance(value, str) else json.dumps(value)


def settings_command(as_json: bool) -> int:
    """Print the table (or one JSON object per line); exit code 0."""
    if as_json:
        for row in rows():
            print(json.dumps(row))
        return 0
    print("Every setting: a key of a study's params: and of ganstudy trial --set KEY=VALUE,")
    print("and a column of the tables. NAME = DEFAULT (accepted values), then its meaning.")
    for row in rows():
        line = f"{row['name']} = {shown_default(row['default'])}   ({row['accepts']})"
        print("\n" + textwrap.fill(line, WIDTH, subsequent_indent="        "))
        print(textwrap.fill(row["meaning"], WIDTH, initial_indent="    ", subsequent_indent="    "))
    return 0
