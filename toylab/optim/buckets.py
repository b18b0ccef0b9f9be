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

CHUNK = 256  # steps of coefficients tabled at a time


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
        self.lr = float(hp["lr"][0])  # the lr of the rows from `lr_from` on (affine tables)
        self.affine: list | None = None  # per lr-dependent coefficient: rows of c(0), of c(1) − c(0), float64
        self.lr_from = 0

    def refresh(self, hp: dict) -> None:
        """New `[K]` hyperparameters (or the same tensors refilled): re-table from the next step."""
        self.hp = self.stepper.hp = hp
        self.lr = float(hp["lr"][0])
        self.tabled_until = 0

    def set_lr(self, lr: float) -> bool:
        """A new lr, every other value unchanged: True where the affine tables take it (from the
        next step on), False where the coefficients must be re-tabled (`refresh`)."""
        if self.affine is None:
            return False
        self.hp["lr"].fill_(lr)
        self.lr, self.lr_from = lr, self.count + 1
        return True

    def table(self, first: int, last: int) -> None:
        """Coefficients of steps first…last: affine in the lr where they are (module), else exact."""
        t = torch.arange(first, last + 1, device=self.storage.device)[:, None]
        n, like = last - first + 1, torch.empty_like(self.storage, device="meta")

        def at(lr: float) -> dict[str, Tensor]:
            hp = self.hp.replace(lr=torch.full_like(self.hp["lr"], lr))
            return {k: torch.broadcast_to(v, (n, self.K)) for k, v in self.opt.coefficients(hp, t, "p", like).items()}

        c0, c1, c2 = at(0.0), at(1.0), at(2.0)
        slope = {k: c1[k] - c0[k] for k in c0}
        if not all(torch.allclose(c2[k], c0[k] + 2 * slope[k], rtol=1e-12, atol=0) for k in c0):
            self.affine = None
            self.stepper.prepare(first, last)
            return
        slope = {k: v for k, v in slope.items() if v.any()}
        shape = (n, self.K) + (1,) * (self.storage.dim() - 1)
        rows = {k: (torch.mul(slope[k], self.lr).add_(v) if k in slope else v).to(self.storage.dtype).reshape(shape)
                for k, v in c0.items()}  # one mul, one add: the same bits per table as per row (_lr_row)
        self.stepper.first = first
        self.stepper.rows = [{"p": {k: v[i] for k, v in rows.items()}} for i in range(n)]
        self.affine = [(c0[k].unbind(0), slope[k].unbind(0), k, torch.empty(self.K, dtype=torch.float64,
                                                                            device=self.storage.device))
                       for k in slope]  # per lr-dependent coefficient: its rows at η = 0, slopes, scratch
        self.lr_from = last + 1

    def _lr_row(self, t: int) -> None:
        """Step t's lr-dependent coefficients from the current lr, written into its row."""
        i, row = t - self.stepper.first, self.stepper.rows[t - self.stepper.first]["p"]
        for c0, slope, k, scratch in self.affine:
            row[k].view(-1).copy_(torch.mul(slope[i], self.lr, out=scratch).add_(c0[i]))

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
            self.table(self.count, self.tabled_until)
        elif self.count >= self.lr_from:  # the lr changed after these rows were tabled
            self._lr_row(self.count)
        self.stepper.step({"p": self.storage}, {"p": self.storage}, {"p": g}, self.count)
        self.step_tensor.fill_(self.count)
