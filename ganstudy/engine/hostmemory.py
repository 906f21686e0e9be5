"""Keep the memory a CPU training step frees for the next step, instead of handing it back
to the operating system (glibc's malloc; a no-op elsewhere).

Why: a step allocates and frees the same few MB of activations and gradients every time.
With glibc's defaults, blocks above its mmap threshold come from fresh mmaps, and free
memory at the top of the heap above its trim threshold goes back to the kernel, so the
next step's tensors land on new pages and every 4 KiB page faults on first touch (about
900 faults a step at width 128, batch 256, R = 8; a 2 MB tensor's elementwise op then
takes 0.6 ms where it takes 0.08 ms on warm pages). Raising both thresholds keeps the
heap's pages mapped: 0 faults a step, and 12-20% more of the matmul ceiling on 2 cores
(README, "The work around the matmuls"). Results are unchanged (only where bytes live).

The cost: a process keeps up to `TRIM_BYTES` of freed heap beyond its peak, and blocks
below `MMAP_BYTES` come from the heap. `GANSTUDY_HOST_MEMORY=release` keeps glibc's
defaults (to compare, or on a machine short of memory).
"""

from __future__ import annotations

import ctypes
import os

from ganstudy.config import ConfigError
from ganstudy.messages import shown

ENV = "GANSTUDY_HOST_MEMORY"  # "keep" (default) or "release" (glibc's own behaviour)
CHOICES = ("keep", "release")
MMAP_BYTES = 32 * 2**20  # glibc's largest mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_BYTES = 256 * 2**20  # freed heap a process may keep above its peak
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers

_applied: bool | None = None  # None: not tried yet in this process


def choice() -> str:
    """GANSTUDY_HOST_MEMORY's value ("keep" when unset); ConfigError for any other value.
    The command line checks it before any command's work (cli.main), so a typo is one line
    at the start, not an error in the first trial (or every Ray trial)."""
    value = os.environ.get(ENV, CHOICES[0])
    if value not in CHOICES:
        raise ConfigError(
            ENV, f"{shown(value)} is not keep (the default) or release; set one, or unset it"
        )
    return value


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds once per process (see the module docstring);
    True if they are raised. Does nothing where there is no glibc mallopt, or where
    GANSTUDY_HOST_MEMORY=release."""
    global _applied
    if _applied is None:
        keep = choice() == "keep"  # first: a bad value raises again on every call
        _applied = False
        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # glibc exports it; musl, macOS not
        if keep and mallopt is not None:
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            _applied = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)) and bool(
                mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)
            )
    return _applied
