"""Shared test settings, and the one finished study the slow tests share.

Two tiers: `python -m pytest -q` runs everything (what CI runs); `python -m pytest -q -m
"not slow"` is the fast tier, every unit-level check without Ray. A test that starts Ray
or runs a study end to end is marked `slow`; one that starts no Ray is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import REPO

SMOKE = REPO / "studies" / "smoke.yaml"

# The engine tests train tiny models: intra-op threads buy nothing there, and on a busy
# 2-core machine a thread pool waiting for a descheduled worker makes each small op ~100x
# slower (measured: one js_probe 1 s with 1 thread, 15 s with 2 under load).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """studies/smoke.yaml run once through Ray (`ganstudy run`) for the whole session, for
    the slow tests that need only a finished study. Read it; copy it before changing it."""
    from ganstudy.cli import main

    out = tmp_path_factory.mktemp("finished") / "smoke"
    assert main(["run", str(SMOKE), "--results", str(out), "--quiet"]) == 0
    return out
