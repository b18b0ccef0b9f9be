"""Functional optimizers batched over a config axis (see `base`), and torch.optim wrappers."""
from .base import OptimizerDef, bcast, get, hp_tensors, names, register

__all__ = ["OptimizerDef", "bcast", "get", "hp_tensors", "names", "register"]
