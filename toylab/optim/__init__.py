"""Optimizers batched over a config axis, functional and in place (see `base`), and their
torch.optim classes (`torch_api`): `from toylab.optim import AdamW, SGD, Muon, SignSGD`."""
from . import adamw, muon, sgd, signsgd  # noqa: F401  (each registers its optimizer)
from .base import InPlace, OptimizerDef, bcast, get, hp_tensors, names, register
from .torch_api import SGD, AdamW, Muon, SignSGD

__all__ = ["InPlace", "OptimizerDef", "bcast", "get", "hp_tensors", "names", "register",
           "AdamW", "SGD", "Muon", "SignSGD"]
