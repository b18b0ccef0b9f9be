"""Decoupled weight decay and its schedule-corrected form (AdamC / SGDC, docs/claims.md C8).

Shapes: every rate is a per-config `Tensor[K]`; `hp` is the batch's `Hyperparameters`, whose
`lr_max` is the peak of each config's lr schedule and `normalized` the scale-invariant parameters.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .hyperparameters import Hyperparameters


def decay_rate(hp: Hyperparameters, name: str, lr: Tensor, weight_decay: Tensor) -> Tensor:
    """λ_t for parameter `name`: λ·lr_t/lr_max on a normalized parameter when
    `hp["corrected_decay"]` is on (C8), else λ. A zero lr_max leaves λ as it is."""
    if name not in hp.normalized:
        return weight_decay
    return torch.where(hp["corrected_decay"] > 0, weight_decay * lr_ratio(hp, lr), weight_decay)


def lr_ratio(hp: Hyperparameters, lr: Tensor) -> Tensor:
    """η_t/η_max, the position in the lr schedule (1 where η_max is 0)."""
    return torch.where(hp.lr_max > 0, lr / torch.where(hp.lr_max > 0, hp.lr_max, 1.0), 1.0)
