"""The `ganstudy` console script: a quiet Ctrl-C from the first instant, then `cli.main`.

Importing the command line (argparse, the config, later torch and Ray) takes a while; a
Ctrl-C in that time would end in a KeyboardInterrupt traceback, before `cli.main` can catch
it. So this module imports only the standard library, installs a SIGINT handler that exits
130 without a word, and only then imports the rest. `cli.main` takes over with Python's
own handler (KeyboardInterrupt), which it and `run_study` handle.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

INTERRUPTED = 130  # messages.INTERRUPTED; not imported from there: nothing of ours loads first


def _quiet_exit(signum: int, frame: object) -> None:
    raise SystemExit(INTERRUPTED)  # SystemExit prints nothing, unlike KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point: `cli.main(argv)`, with Ctrl-C quiet while it loads."""
    # Run with SIGINT ignored (nohup, a background job), it stays ignored throughout.
    ours = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    try:
        if ours:
            signal.signal(signal.SIGINT, _quiet_exit)
    except ValueError:  # not the main thread (a test calling us): signals are not ours
        ours = False
    try:
        from ganstudy import cli

        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        return cli.main(argv)
    except KeyboardInterrupt:  # between the two lines above, before cli.main's own guard
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
