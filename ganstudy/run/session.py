"""Start, connect to and stop Ray: the embedded local Ray and a cluster driver's connection.

Ray's settings are applied when a session starts, never at import time, so that importing
ganstudy changes nothing and import order does not matter.
"""

from __future__ import annotations

import os
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
    # A crashed trial's traceback goes to its error file (ray/trial_<id>/error.txt) and its
    # first line to the trials table, not over the progress display.
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
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
    with hidden_address_variables():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    return True


def stop() -> None:
    """Stop the Ray this process started (or disconnect from a cluster)."""
    import ray

    ray.shutdown()


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
