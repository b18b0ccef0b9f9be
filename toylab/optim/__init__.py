"""Optimizers batched over a config axis, functional and in place (see `base`), and torch.optim wrappers."""
from .base import InPlace, OptimizerDef, bcast, get, hp_tensors, names, register

__all__ = ["InPlace", "OptimizerDef", "bcast", "get", "hp_tensors", "names", "register"]
