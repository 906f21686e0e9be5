"""Which device a trainer runs on, chosen at run time, and how a checkpoint names it."""

from __future__ import annotations

import torch


def describe_device(device: torch.device) -> dict[str, str | None]:
    """{"name": "cpu" or the GPU's name, "cuda": torch's CUDA version on a GPU, else None}."""
    if device.type != "cuda":
        return {"name": device.type, "cuda": None}
    return {"name": torch.cuda.get_device_name(device), "cuda": torch.version.cuda}


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device: 'cuda' was asked for but no CUDA device is visible; use device=auto or cpu"
        )
    return torch.device(name)
