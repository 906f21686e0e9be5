"""How every command speaks to its user: one line on stderr per message, and exit codes.

The command line, the report and the bench print every error and warning through `say`,
so each message has one prefix (`ganstudy: error: ...`) and one line, however long or
multi-line the text it quotes.
"""

from __future__ import annotations

import sys

IO_FAULT = 1  # a read, write or disk fault while doing what was asked
USAGE_ERROR = 2  # bad input: one line on stderr, nothing written
INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
MAX_MESSAGE_CHARS = 1000  # a message of ours never grows with the input it is about


def say(level: str, message: str) -> None:
    """One line on stderr, `ganstudy: LEVEL: message`, however long or multi-line the text."""
    text = " ".join(message.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    print(f"ganstudy: {level}: {text}", file=sys.stderr, flush=True)


def fail(message: str, code: int = USAGE_ERROR) -> int:
    """Every error of every command: `say("error", message)`; returns the exit code."""
    say("error", message)
    return code
