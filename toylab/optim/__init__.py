"""Optimizers batched over a config axis, functional and in place (see `base`), and their
torch.optim classes (`torch_api`): `from toylab.optim import AdamW, SGD, Muon, SignSGD`."""
from . import adamw, muon, sgd, signsgd  # noqa: F401  (each registers its optimizer)
from .base import InPlace, OptimizerDef, bcast, get, names, register
from .hyperparameters import Hyperparameters, hyperparameters
from .torch_api import SGD, AdamW, Muon, SignSGD

__all__ = ["InPlace", "OptimizerDef", "bcast", "get", "Hyperparameters", "hyperparameters", "names", "register",
           "AdamW", "SGD", "Muon", "SignSGD"]
