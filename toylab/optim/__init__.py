"""Functional optimizers batched over a config axis (see `base`), and their torch.optim classes
(`torch_api`): `from toylab.optim import AdamW, SGD, Muon, SignSGD`."""
from .base import OptimizerDef, bcast, get, hp_tensors, names, register
from .torch_api import SGD, AdamW, Muon, SignSGD

__all__ = ["OptimizerDef", "bcast", "get", "hp_tensors", "names", "register", "AdamW", "SGD", "Muon", "SignSGD"]
