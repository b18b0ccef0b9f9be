"""Parameters packed into one batched tensor, so that a toylab optimizer advances many of them in
one call of its functional `update`: the engine's config axis K becomes a parameter axis.

Two layouts, for n parameters of one param group with one dtype, device and step count:

    flat     [1, N]      all n flattened and concatenated (N = Σ numel), K = 1: for elementwise
                         updates (AdamW, SGD, SignSGD, and Muon's AdamW step of non-matrices)
    stacked  [n, A, B]   n matrices of one shape, K = n: for Muon, whose Newton–Schulz
                         orthogonalisation acts on each matrix

A bucket owns the storage: each parameter's `.data` becomes a view into it, and each tensor of
its optimizer state (`optimizer.state[p]`, torch's names: `exp_avg`, `momentum_buffer`, ...) a
view into the matching state storage, so torch's `state_dict()` sees ordinary per-parameter
tensors. One step is: gather the gradients (one `cat` or `stack`), then the engine's in-place
step (`InPlace`) on the storage and its state, with coefficients tabled `CHUNK` steps ahead
(from `[K]` hyperparameters, re-tabled when the group's values change).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .base import InPlace, OptimizerDef

CHUNK = 64  # steps of coefficients tabled at a time


class Bucket:
    """n parameters advanced together; `hp` and `hp_values` are the optimizer's cache of the
    `[K]` hyperparameter tensors and the group values they were built from (`refresh` after a change)."""

    def __init__(self, opt: OptimizerDef, params: list[Tensor], states: list[dict], stacked: bool,
                 step: int, hp: dict):
        self.opt, self.params, self.stacked, self.count = opt, params, stacked, step
        self.shapes = [p.shape for p in params]
        self.numels = [p.numel() for p in params]
        self.storage = self.pack([p.detach() for p in params])
        self.K = self.storage.shape[0]
        for p, view in zip(params, self.views(self.storage)):
            p.data = view
        self.pointers = [p.data_ptr() for p in params]
        self.hp, self.hp_values = hp, None
        fresh = opt.init({"p": self.storage}, hp)
        self.state = {}
        for name, value in fresh.items():
            if "p" not in value:  # e.g. Muon's momentum buffer in a flat bucket
                continue
            kept = [s.get(name) for s in states]
            if all(t is not None for t in kept):  # resumed: gather the per-parameter tensors
                value = {"p": self.pack([t.to(self.storage) for t in kept])}
            self.state[name] = value
        self.step_tensor = torch.tensor(float(step))  # shared by the bucket's parameters
        for i, s in enumerate(states):
            s.clear()
            s["step"] = self.step_tensor
        for name, value in self.state.items():
            for s, view in zip(states, self.views(value["p"])):
                s[name] = view
        self.stepper = InPlace(opt, {"p": self.storage}, hp, state=self.state)
        self.tabled_until = 0  # the last step whose coefficients are tabled

    def refresh(self, hp: dict) -> None:
        """New `[K]` hyperparameters (or the same tensors refilled): re-table from the next step."""
        self.hp = self.stepper.hp = hp
        self.tabled_until = 0

    def pack(self, tensors: list[Tensor]) -> Tensor:
        if self.stacked:
            return torch.stack(tensors)
        return torch.cat([t.reshape(-1) for t in tensors]).unsqueeze(0)

    def views(self, packed: Tensor) -> list[Tensor]:
        if self.stacked:
            return list(packed.unbind(0))
        return [v.view(s) for v, s in zip(packed[0].split(self.numels), self.shapes)]

    def intact(self) -> bool:
        """False once a parameter's storage was replaced (e.g. by `model.to(...)`)."""
        return all(p.data_ptr() == ptr for p, ptr in zip(self.params, self.pointers))

    def step(self, maximize: bool) -> None:
        g = self.pack([p.grad for p in self.params])
        if maximize:  # torch.optim's maximize: the update sees −g
            g.neg_()
        self.count += 1
        if self.count > self.tabled_until:
            self.tabled_until = self.count + CHUNK - 1
            self.stepper.prepare(self.count, self.tabled_until)
        self.stepper.step({"p": self.storage}, {"p": self.storage}, {"p": g}, self.count)
        self.step_tensor.fill_(self.count)
