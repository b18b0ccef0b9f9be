"""Decoupled weight decay and its schedule-corrected form (AdamC / SGDC, docs/claims.md C8).

Shapes: every rate is a per-config `Tensor[K]`. The engine may put in `hp`:
`hp["lr_max"]` (`Tensor[K]`, the peak of the lr schedule; default: the current lr) and
`hp["normalized"]` (a set of parameter names whose loss is scale-invariant; default: none).
"""
from __future__ import annotations

import torch
from torch import Tensor


def decay_rate(hp: dict, name: str, lr: Tensor, weight_decay: Tensor) -> Tensor:
    """λ_t for parameter `name`: λ·lr_t/lr_max on a normalized parameter when
    `hp["corrected_decay"]` is on (C8), else λ. A zero lr_max leaves λ as it is."""
    if "corrected_decay" not in hp or name not in hp.get("normalized", ()):
        return weight_decay
    return torch.where(hp["corrected_decay"] > 0, weight_decay * lr_ratio(hp, lr), weight_decay)


def lr_ratio(hp: dict, lr: Tensor) -> Tensor:
    """η_t/η_max, the position in the lr schedule (1 where η_max is 0 or not given)."""
    lr_max = hp.get("lr_max", lr)
    return torch.where(lr_max > 0, lr / torch.where(lr_max > 0, lr_max, 1.0), 1.0)
