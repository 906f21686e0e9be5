"""How many torch threads training uses: the default, its override, and setting it.

torch's own default is one thread per core. A GAN step here is many small matmuls, so extra
threads buy little on an idle machine and cost much on a busy one: threads that wait on
each other while other work holds the cores. Measured on this project's shared 2-core
machine with other work running, the papers' networks took 4.12 s a step on 2 threads and
0.475 s on 1 (8.7x); `ganstudy bench`'s "threads" figure measures the ratio on yours.

So a Trainer (and `ganstudy trial`) trains on DEFAULT_THREADS (1) unless told otherwise:
`Trainer(config, threads=N)` / `--threads N`, or the environment variable
GANSTUDY_THREADS=N; it sets them while it trains or evaluates and restores torch's own
after. A study's trials run on their `resources: {cpu: N}` threads (run/trainable.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

THREADS_ENV = "GANSTUDY_THREADS"
DEFAULT_THREADS = 1
MAX_THREADS = 1024  # more is a typo, not a machine


def threads_setting(given: int | None = None) -> int:
    """The torch threads to train on: `given`, else $GANSTUDY_THREADS, else DEFAULT_THREADS.
    ValueError (one line naming the setting and the fix) for a value that is no whole
    number in [1, MAX_THREADS]."""
    if given is not None:
        return _checked(given, "--threads")
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return DEFAULT_THREADS
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            f"{THREADS_ENV}={text!r}: expected a whole number of threads, e.g. "
            f"{THREADS_ENV}=1 (or unset it for the default, {DEFAULT_THREADS})"
        ) from None
    return _checked(value, THREADS_ENV)


def _checked(value: int, name: str) -> int:
    if not 1 <= value <= MAX_THREADS:
        raise ValueError(f"{name}: got {value}; expected 1 to {MAX_THREADS} threads")
    return value


def set_threads(threads: int) -> None:
    """torch's intra-op threads for this process (the CPU's; a GPU's kernels are unaffected)."""
    import torch  # lazily: `ganstudy --help` imports this module's callers

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads set to `threads` inside, restored after."""
    import torch

    saved = torch.get_num_threads()
    set_threads(threads)
    try:
        yield
    finally:
        set_threads(saved)
