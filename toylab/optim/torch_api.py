"""`torch.optim.Optimizer` classes that run toylab's functional optimizers on ordinary models.

Each parameter is viewed as one configuration (K = 1, `p.unsqueeze(0)`) and advanced by the
same `update` the batched engine uses, so a model trained with `AdamW` here follows exactly the
math the lab measures. Arguments take torch.optim's names (`lr`, `betas`, `eps`,
`weight_decay`, `momentum`, `dampening`, `nesterov`, `ns_coefficients`, `ns_steps`,
`adjust_lr_fn`) plus toylab's switches (`zero_init`, `bias_correction`, ...; see `toylab list`).
For corrected decay (AdamC / SGDC, SCIENCE.md C8) mark a param group `normalized=True`; its
η_max is the group's `lr_max`, else the `initial_lr` torch's lr schedulers record, else `lr`.
"""
from __future__ import annotations

import torch

from ..options import resolve
from . import adamw, muon, sgd, signsgd
from .base import OptimizerDef, hp_tensors

class ToylabOptimizer(torch.optim.Optimizer):
    """A toylab optimizer behind the torch.optim interface; subclasses set `definition`."""

    definition: OptimizerDef

    def __init__(self, params, **hparams):
        super().__init__(params, self._resolve(hparams))

    def _resolve(self, given: dict) -> dict:
        given = dict(given)
        if "adjust_lr_fn" in given:  # torch.optim.Muon's name, where None means "original"
            given["adjust_lr"] = given.pop("adjust_lr_fn") or "original"
        return resolve(f"{self.definition.name} optimizer", self.definition.hparams, given)

    def add_param_group(self, param_group: dict) -> None:
        names = set(self.definition.hparams) | {"adjust_lr_fn"}
        given = {k: v for k, v in param_group.items() if k in names}
        rest = {k: v for k, v in param_group.items() if k not in names}
        if given:
            rest.update(self._resolve({**{k: self.defaults[k] for k in self.definition.hparams}, **given}))
        super().add_param_group(rest)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        opt = self.definition
        for group in self.param_groups:
            values = {k: group[k] for k in opt.hparams}
            lr_max = float(group.get("lr_max", group.get("initial_lr", group["lr"])))
            for p in group["params"]:
                if p.grad is None:
                    continue
                hp = hp_tensors(opt, [values], p.dtype, p.device)
                hp["lr_max"] = torch.tensor([lr_max], dtype=p.dtype, device=p.device)
                hp["normalized"] = {"p"} if group.get("normalized") else set()
                params = {"p": p.unsqueeze(0)}
                state = self.state[p]
                if not state:
                    state["step"], state["toylab"] = 0, opt.init(params, hp)
                state["step"] += 1
                new, state["toylab"], _ = opt.update(
                    {"p": p.grad.unsqueeze(0)}, state["toylab"], params, hp, state["step"])
                p.copy_(new["p"][0])
        return loss


def _wrap(class_name: str, definition: OptimizerDef) -> type[ToylabOptimizer]:
    doc = f"{definition.description}, as a torch.optim.Optimizer. Options:\n" + "\n".join(
        f"    {k}: {o.describe()}" for k, o in definition.hparams.items())
    return type(class_name, (ToylabOptimizer,), {"definition": definition, "__doc__": doc})


AdamW = _wrap("AdamW", adamw.ADAMW)
SGD = _wrap("SGD", sgd.SGD)
SignSGD = _wrap("SignSGD", signsgd.SIGNSGD)
Muon = _wrap("Muon", muon.MUON)
