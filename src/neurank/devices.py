"""Pick the compute device: cuda, then Apple mps, then cpu, unless the user names one."""

from __future__ import annotations

from neurank.errors import NeurankError


def select_device(preference: str | None = None) -> str:
    """Return `preference` if it is usable, else the best available device."""
    import torch  # here, so importing neurank modules never loads torch by itself

    if preference and preference != "auto":
        if preference.startswith("cuda") and not torch.cuda.is_available():
            raise NeurankError(f"device {preference!r} requested but CUDA is not available")
        if preference == "mps" and not torch.backends.mps.is_available():
            raise NeurankError("device 'mps' requested but Apple MPS is not available")
        return preference
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"
