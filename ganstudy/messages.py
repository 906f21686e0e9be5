"""How every command speaks to its user: one line on stderr per message, and exit codes.

The command line, the report and the bench print every error and warning through `say`,
so each message has one prefix (`ganstudy: error: ...`) and one line, however long or
multi-line the text it quotes.
"""

from __future__ import annotations

import math
import reprlib
import sys
from typing import Any

IO_FAULT = 1  # a read, write or disk fault while doing what was asked
USAGE_ERROR = 2  # bad input: one line on stderr, nothing written
INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
MAX_MESSAGE_CHARS = 1000  # a message of ours never grows with the input it is about
PATH_CHARS = 120  # the most of a path (the user's input) that a message repeats


def clip_middle(text: object, limit: int = PATH_CHARS) -> str:
    """`text` for a one-line message, whitespace folded, at most `limit` characters: its
    start and its end kept, the middle cut to "…" (a path's end names the file, its start
    where it lives; both matter more than the folders between)."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    if limit < 2:
        return "…"[:limit]
    head = (limit - 1) // 2
    tail = limit - 1 - head
    return flat[:head] + "…" + flat[len(flat) - tail :]


def detail(error: BaseException) -> str:
    """An exception for the parentheses of a message: "Type: its first line", or "Type"
    alone when it has no text (never a dangling ": ")."""
    lines = str(error).strip().splitlines()
    text = lines[0].strip() if lines else ""
    name = type(error).__name__
    return f"{name}: {clip_middle(text, 200)}" if text else name


def say(level: str, message: str) -> None:
    """One line on stderr, `ganstudy: LEVEL: message`, however long or multi-line the text."""
    # A detail that came out empty (an exception with no text) leaves no dangling ": ".
    text = " ".join(message.split()).rstrip(":").rstrip()
    if not text.isprintable():  # an escape sequence in a file name must not drive the terminal
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    print(f"ganstudy: {level}: {text}", file=sys.stderr, flush=True)


def fail(message: str, code: int = USAGE_ERROR) -> int:
    """Every error of every command: `say("error", message)`; returns the exit code."""
    say("error", message)
    return code


SHOWN_CHARS = 60  # the most characters of an input value that a message echoes


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """repr(value) for a message, at most `limit` characters (input can be huge or deep)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 190:
        # repr of a huge int is slow (quadratic) and refused past 4300 digits.
        text = f"<an integer of {int(value.bit_length() * math.log10(2)) + 1} digits>"
    else:
        text = _REPR.repr(value)  # bounded in depth and length, whatever the value holds
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_key(key: Any) -> str:
    """A key as a message shows it: plain when short and printable, else shown() (an
    empty or blank key too: it must be visible)."""
    if isinstance(key, str) and key.strip() and len(key) <= SHOWN_CHARS and key.isprintable():
        return key
    return shown(key)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = SHOWN_CHARS
_REPR.maxlevel = 3
