"""Start, connect to and stop Ray: the embedded local Ray and a cluster driver's connection.

Ray's settings are applied when a session starts, never at import time, so that importing
ganstudy changes nothing and import order does not matter.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Applied (as defaults: a user's own value wins) when a session starts:
RAY_SETTINGS = {
    # On Linux a plain local Ray binds the machine's routable address; with this variable
    # (Ray 2.60) every socket of the embedded instance stays on 127.0.0.1.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # Ray's new console output ignores custom progress reporters; ours is a status line.
    "RAY_AIR_NEW_OUTPUT": "0",
    # Save the experiment state often, so a killed driver resumes with recent checkpoints.
    "TUNE_GLOBAL_CHECKPOINT_S": "5",
    # Those frequent snapshots are deliberate (resume correctness), not a bottleneck to warn of.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    # No usage-stats upload attempts (and no banner about them).
    "RAY_USAGE_STATS_ENABLED": "0",
}


def configure() -> None:
    """Apply RAY_SETTINGS to this process (and so to the Ray processes it starts)."""
    for key, value in RAY_SETTINGS.items():
        os.environ.setdefault(key, value)
    # Ray reads the cluster switch once, when it is first imported; a process that imported
    # Ray before this call (a test, a notebook) gets the value now.
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = ray_constants.env_bool(
        ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, False
    )


def start(address: str | None = None) -> bool:
    """Connect to `address` ("auto" or HOST:PORT), or start an embedded local Ray on
    127.0.0.1; True if this call started Ray (and so should stop it). Already connected:
    nothing to do, False. A cluster that cannot be reached raises cluster.ClusterError."""
    configure()
    import ray

    if ray.is_initialized():
        return False
    if address:
        from ganstudy.run import cluster

        cluster.connect(address)
        return False
    from ganstudy.run.cluster import hidden_address_variables

    # ray.init() without an address joins the cluster that RAY_ADDRESS names, if any; an
    # embedded run must start its own.
    _STDERR_FILTER.install()
    with hidden_address_variables():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    return True


def stop() -> None:
    """Stop the Ray this process started (or disconnect from a cluster)."""
    import ray

    ray.shutdown()
    _STDERR_FILTER.remove()


class _StderrFilter:
    """While an embedded Ray runs, file descriptor 2 goes through a pipe whose reader
    passes on every line except those in DROPPED.

    Why: Ray's C++ core prints a token-authentication banner at every start, past
    sys.stderr, from the driver and the processes it starts; on an embedded Ray that listens
    on 127.0.0.1 only, with its own token, it tells a user nothing to act on. Ray Tune ends an
    interrupted run with "Resume experiment with: Tuner.restore(...)", advice for Tune's own
    API; ganstudy prints its own (`--resume`). Every other line is passed on, in order, and
    the descriptor is restored when Ray stops.
    """

    DROPPED = (
        b"Token authentication is enabled for this Ray cluster.",
        b"Resume experiment with: Tuner.restore(",
    )

    def __init__(self) -> None:
        self._saved: int | None = None
        self._thread: threading.Thread | None = None

    def install(self) -> None:
        if self._saved is not None:
            return
        sys.stderr.flush()
        read, write = os.pipe()
        self._saved = os.dup(2)
        os.dup2(write, 2)
        os.close(write)
        self._thread = threading.Thread(target=self._forward, args=(read, self._saved), daemon=True)
        self._thread.start()

    def remove(self) -> None:
        if self._saved is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # the pipe's last writer here closes: the reader ends
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2)  # Ray's processes may still hold the pipe: don't wait
        os.close(self._saved)
        self._saved = None

    def _forward(self, read: int, target: int) -> None:
        with os.fdopen(read, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if self._passes(line) and not _write(target, line + b"\n"):
                        return
            if pending and self._passes(pending):
                _write(target, pending)

    def _passes(self, line: bytes) -> bool:
        return not any(dropped in line for dropped in self.DROPPED)


def _write(fd: int, data: bytes) -> bool:
    """os.write, False once the descriptor is gone (the filter was removed meanwhile)."""
    try:
        os.write(fd, data)
    except OSError:
        return False
    return True


_STDERR_FILTER = _StderrFilter()


@contextmanager
def ray_session(address: str | None = None) -> Iterator[bool]:
    """`with ray_session():` an embedded local Ray (or `address`'s cluster) for the block,
    stopped afterwards if the block's `start` started it; yields whether it did."""
    started = start(address)
    try:
        yield started
    finally:
        if started:
            stop()
