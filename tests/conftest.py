"""Shared test settings."""

import torch

# The engine tests train tiny models: intra-op threads buy nothing there, and on a busy
# 2-core machine a thread pool waiting for a descheduled worker makes each small op ~100x
# slower (measured: one js_probe 1 s with 1 thread, 15 s with 2 under load).
torch.set_num_threads(1)
