"""A value from a study file or the command line as a declared type (int, float, str, bool,
None, their unions, a Literal of names, tuple[str, ...]), and the did-you-mean for an
unknown name: the one conversion for config fields, study sections and study keys."""

from __future__ import annotations

import difflib
import typing
from typing import Any, Literal

from ganstudy.messages import shown

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def convert(value: Any, hint: Any) -> Any:
    """`value` as type `hint` (int, float, str, bool, None, their unions, a Literal of names,
    tuple[str, ...]); the one conversion for config fields, study sections and study keys.

    Strings convert too: the command line gives strings, and PyYAML reads 1e-4 (no dot) as
    one. A bool is never a number (`cpu: yes` is a typo). Floats may be non-finite here: the
    range checks (`Range.check`) refuse them with the range in the message. Raises
    ValueError with a message that does not name the setting (the caller does).
    """
    if typing.get_origin(hint) is Literal:
        names = typing.get_args(hint)
        if value not in names:
            raise ValueError(f"got {shown(value)}; expected one of {', '.join(names)}")
        return value
    if typing.get_origin(hint) is tuple:  # tuple[str, ...]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"got {shown(value)}; expected a list of names, e.g. [lr_d, lr_g]")
        return tuple(value)
    types = types_of(hint)
    text = value.strip() if isinstance(value, str) else None
    if type(None) in types and (value is None or (text or "").lower() in ("none", "null")):
        return None
    if bool in types:
        if isinstance(value, bool) or (text or "").lower() in _TRUE + _FALSE:
            return value if isinstance(value, bool) else text.lower() in _TRUE
        raise ValueError(f"got {shown(value)}; expected true or false")
    if isinstance(value, bool):
        raise ValueError(f"got {shown(value)}; expected {_expected(types)}")
    if int in types:
        if isinstance(value, int):
            return value
        if text is not None:
            try:
                return int(text)
            except ValueError:
                pass
        if float not in types:
            raise ValueError(f"got {shown(value)}; expected an integer")
    if float in types and isinstance(value, int | float | str):
        try:
            return float(text if text is not None else value)
        except (ValueError, OverflowError):  # not a number; an int beyond any float
            pass
        raise ValueError(f"got {shown(value)}; expected a finite number")
    if str in types and text is not None:
        return text
    raise ValueError(f"got {shown(value)}; expected {_expected(types)}")


def _expected(types: tuple) -> str:
    words = {int: "an integer", float: "a number", str: "a string", type(None): "null"}
    return " or ".join(words.get(t, getattr(t, "__name__", str(t))) for t in types)


def types_of(hint: Any) -> tuple:
    """The types a hint allows: its union's members, or the hint itself."""
    return typing.get_args(hint) or (hint,)


def did_you_mean(key: str, known: list[str]) -> str:
    """ "did you mean 'x'?" for the closest known name, else the list of known names."""
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(known)
