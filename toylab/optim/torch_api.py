"""toylab's optimizers as drop-in `torch.optim.Optimizer` classes for ordinary models.

    from toylab.optim import AdamW, SGD, Muon, SignSGD
    opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)

`AdamW`, `SGD` and `Muon` take every argument of their torch.optim namesakes (torch 2.13), in
the same positions and with the same defaults, plus toylab's own switches as keyword arguments
(`bias_correction`, `zero_init`, `nested_ema`, `decoupled_decay`, `momentum_form`, `ns_dtype`,
...; `toylab list`). `maximize=True` negates the gradient before the update, as torch does.
The implementation flags `foreach`, `fused`, `capturable`, `differentiable` are accepted where
torch takes them; toylab has one implementation, so the values it cannot honour
(`fused=True`, `capturable=True`, `differentiable=True`) are errors. Every argument is checked
at construction (and a param group's values again when they change, e.g. by an lr scheduler).

The step runs the engine's own in-place step (`InPlace`, so a model trained here follows
exactly the math the lab measures) on buckets of parameters (`buckets.py`): one batched call
per param group for elementwise optimizers, one per matrix shape for Muon; the `[K]`
hyperparameter tensors are built once, refilled only when a group's values change, and their
per-step coefficients tabled 256 steps at a time as affine functions of the lr, so that an lr
scheduler's change costs a multiply and an add per coefficient (`buckets.py`).

State is torch's, per parameter: `step` plus `exp_avg`, `exp_avg_sq` (`max_exp_avg_sq` with
amsgrad) or `momentum_buffer`; `state_dict()` / `load_state_dict()` round-trip it.
For corrected decay (AdamC / SGDC, docs/claims.md C8) mark a param group `normalized=True`; its
η_max is the group's `lr_max`, else the `initial_lr` torch's lr schedulers record, else `lr`.
"""
from __future__ import annotations

import math
import numbers

import torch

from ..options import Option, UserError, format_value, resolve
from . import adamw, muon, sgd, signsgd
from .base import OptimizerDef, hp_tensors
from .buckets import Bucket

# torch's implementation flags: the values toylab can honour, and why the others cannot be.
FLAGS = {"maximize": (False, True), "foreach": (None, False, True), "capturable": (False,),
         "differentiable": (False,), "fused": (None, False)}
CANNOT = {"capturable": "the step count lives on the host, so the step cannot be captured in a CUDA graph",
          "differentiable": "the step runs under no_grad and cannot be differentiated through",
          "fused": "toylab has no fused kernel (a group advances as batched calls of its update)"}


class ToylabOptimizer(torch.optim.Optimizer):
    """A toylab optimizer behind the torch.optim interface; subclasses set `definition` and
    write torch's signature, passing torch's arguments, their flags and toylab's options."""

    definition: OptimizerDef
    stack_matrices = False  # Muon: bucket 2-D parameters by shape (K = number of matrices)

    def __init__(self, params, torch_args: dict, flags: dict, toylab_options: dict):
        self._flags = tuple(flags)
        self._plans: dict[int, tuple] = {}
        super().__init__(params, self._checked({**torch_args, **toylab_options, **flags}))

    # ----- arguments ---------------------------------------------------------------------------
    def _checked(self, given: dict, base: dict | None = None) -> dict:
        """Validate `given` (over `base`, the defaults of a new group): flags, types, ranges, and
        the optimizer's cross-checks (a dry `init`); returns the complete values."""
        given = dict(given)
        if "adjust_lr_fn" in given:  # torch.optim.Muon's name for toylab's adjust_lr; None = original
            fn = given.pop("adjust_lr_fn")
            if fn is not None and given.get("adjust_lr", fn) != fn:
                raise UserError(f"adjust_lr_fn={fn!r} and adjust_lr={given['adjust_lr']!r} disagree; give one")
            given.setdefault("adjust_lr", fn or "original")
        flags = {k: given.pop(k) for k in self._flags if k in given}
        for name, value in flags.items():
            if not any(value is v for v in FLAGS[name]):
                why = f": {CANNOT[name]}" if name in CANNOT and isinstance(value, bool) else ""
                raise UserError(f"{name}={value!r} cannot be honoured{why}; allowed: "
                                f"{', '.join(map(str, FLAGS[name]))}")
        opt = self.definition
        plain = {k: plain_value(k, opt.hparams[k], v) if k in opt.hparams else v for k, v in given.items()}
        inherited = {k: v for k, v in (base or {}).items() if k in opt.hparams}
        values = resolve(f"{opt.name} optimizer", opt.hparams, {**inherited, **plain})
        opt.init({"p": torch.zeros(1, 1)}, hp_tensors(opt, [values], torch.float64, "cpu"))
        kept = {k: base[k] for k in self._flags if base and k in base}
        # a Tensor lr (or betas) stays a tensor in the group, as in torch: schedulers fill_ it in place
        tensors = {k: v for k, v in {**inherited, **given}.items() if k in opt.hparams and holds_tensor(v)}
        return {**kept, **flags, **values, **tensors}

    def add_param_group(self, param_group: dict) -> None:
        names = set(self.definition.hparams) | set(self._flags) | {"adjust_lr_fn"}
        given = {k: v for k, v in param_group.items() if k in names}
        rest = {k: v for k, v in param_group.items() if k not in names}
        super().add_param_group({**rest, **self._checked(given, base=dict(self.defaults))})

    # ----- the step ----------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            values = self._group_values(group)
            for bucket in self._buckets(index, group, values):
                if bucket.hp_values != values:
                    self._refresh(bucket, values)
                bucket.step(bool(group.get("maximize", False)))
        return loss

    def state_dict(self) -> dict:
        """torch's, with each parameter's own copy of the step count its bucket shares."""
        out = super().state_dict()
        out["state"] = {k: {**v, "step": v["step"].clone()} if "step" in v else v for k, v in out["state"].items()}
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._plans.clear()  # buckets are rebuilt from the loaded per-parameter state

    def _group_values(self, group: dict) -> dict:
        """A snapshot of the group's hyperparameters (tensors read as numbers)."""
        values = {k: number(group.get(k, self.defaults[k])) for k in self.definition.hparams}
        values["lr_max"] = number(group.get("lr_max", group.get("initial_lr", group["lr"])))
        values["normalized"] = bool(group.get("normalized", False))
        return values

    def _refresh(self, bucket: Bucket, values: dict) -> None:
        """Refill the bucket's `[K]` hyperparameters after a change of the group's values: a
        scalar (lr set by a scheduler) is validated and `fill_`ed; anything else rebuilds them."""
        opt = self.definition
        changed = [k for k in values if bucket.hp_values[k] != values[k]]
        if changed == ["lr"] and bucket.set_lr(opt.hparams["lr"].validate("lr", plain_value(
                "lr", opt.hparams["lr"], values["lr"]))):  # a scheduler's step: the affine tables take it
            bucket.hp_values = values
            return
        if all(k == "lr_max" or (k in opt.hparams and k not in opt.static
                                 and isinstance(opt.hparams[k].default, (bool, float))) for k in changed):
            for k in changed:
                value = values[k] if k == "lr_max" else opt.hparams[k].validate(
                    k, plain_value(k, opt.hparams[k], values[k]))
                bucket.hp[k].fill_(float(value))
            bucket.refresh(bucket.hp)
        else:
            bucket.refresh(self._hp_tensors(values, bucket.K, bucket.storage))
        bucket.hp_values = values

    def _hp_tensors(self, values: dict, K: int, like: torch.Tensor) -> dict:
        """The group's values, validated, as `[K]` float64 tensors on `like`'s device (the
        coefficients are computed in float64, as torch computes them from Python floats)."""
        opt = self.definition
        checked = self._checked({k: values[k] for k in opt.hparams})
        hp = hp_tensors(opt, [{k: checked[k] for k in opt.hparams}] * K, torch.float64, like.device)
        hp["lr_max"] = torch.full((K,), float(values["lr_max"]), dtype=torch.float64, device=like.device)
        hp["normalized"] = {"p"} if values["normalized"] else set()
        return hp

    def _buckets(self, index: int, group: dict, values: dict) -> list[Bucket]:
        """The group's buckets, rebuilt when the set of parameters with a gradient changes or a
        parameter's storage was replaced."""
        live = [p for p in group["params"] if p.grad is not None]
        for p in live:
            if p.grad.is_sparse or p.is_complex():
                raise UserError(f"{type(self).__name__}: sparse gradients and complex parameters are not "
                                f"supported (got a {'sparse gradient' if p.grad.is_sparse else p.dtype})")
        ids = tuple(map(id, live))
        plan = self._plans.get(index)
        if plan is not None and plan[0] == ids and all(b.intact() for b in plan[1]):
            return plan[1]
        by_key: dict[tuple, list] = {}
        for p in live:
            state = self.state[p]
            step = int(state["step"]) if "step" in state else (1 if state else 0)
            stacked = self.stack_matrices and p.dim() == 2
            by_key.setdefault((p.dtype, p.device, step, tuple(p.shape) if stacked else None), []).append(p)
        buckets = []
        for (dtype, device, step, shape), params in by_key.items():
            K = len(params) if shape is not None else 1
            hp = self._hp_tensors(values, K, params[0])
            buckets.append(Bucket(self.definition, params, [self.state[p] for p in params],
                                  stacked=shape is not None, step=step, hp=hp))
            buckets[-1].hp_values = values
        self._plans[index] = (ids, buckets)
        return buckets


def holds_tensor(value) -> bool:
    return isinstance(value, torch.Tensor) or (isinstance(value, (tuple, list)) and any(map(holds_tensor, value)))


def number(value):
    """1-element tensors (also inside a pair) as Python numbers; anything else as it is."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, (tuple, list)) and holds_tensor(value):
        return tuple(map(number, value))
    return value


def plain_value(name: str, option: Option, value):
    """A torch-style value (1-element tensors, ints for floats, lists for tuples) as the plain
    Python value the option declares; a value of the wrong kind is a one-line error."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise UserError(f"{name} as a tensor must have 1 element, not {value.numel()}")
        value = value.item()
    default = option.default
    if isinstance(default, tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(default):
            raise UserError(f"{name}={value!r} is not {len(default)} values like {format_value(default)}")
        return tuple(plain_value(f"{name}[{i}]", Option(d, ""), v) for i, (d, v) in enumerate(zip(default, value)))
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, kind = (isinstance(value, numbers.Real) and not isinstance(value, bool)
                    and math.isfinite(value)), "a finite number"
        value = float(value) if ok else value
    else:
        ok, kind = isinstance(value, str), "a string"
    if not ok:
        raise UserError(f"{name}={value!r} is not {kind}")
    return value


class AdamW(ToylabOptimizer):
    __doc__ = f"{adamw.ADAMW.description}; torch.optim.AdamW's arguments, plus toylab's " \
              f"bias_correction, zero_init, corrected_decay, nested_ema."
    definition = adamw.ADAMW

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None,
                 **toylab_options):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad),
                         dict(maximize=maximize, foreach=foreach, capturable=capturable,
                              differentiable=differentiable, fused=fused), toylab_options)


class SGD(ToylabOptimizer):
    __doc__ = f"{sgd.SGD.description}; torch.optim.SGD's arguments, plus toylab's decoupled_decay, " \
              f"corrected_decay."
    definition = sgd.SGD

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None, **toylab_options):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov),
                         dict(maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused),
                         toylab_options)


class Muon(ToylabOptimizer):
    __doc__ = f"{muon.MUON.description}; torch.optim.Muon's arguments (adjust_lr_fn None = 'original'), " \
              f"plus toylab's momentum_form, ns_dtype, adamw_lr, adamw_betas, adamw_eps. Unlike " \
              f"torch.optim.Muon it takes parameters of any shape (non-matrices get the AdamW step)."
    definition = muon.MUON
    stack_matrices = True

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5, adjust_lr_fn=None,
                 **toylab_options):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                                      ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                                      adjust_lr_fn=adjust_lr_fn), {}, toylab_options)


class SignSGD(ToylabOptimizer):
    __doc__ = f"{signsgd.SIGNSGD.description} (Signum with momentum > 0); torch.optim-style arguments."
    definition = signsgd.SIGNSGD

    def __init__(self, params, lr=1e-3, momentum=0, weight_decay=0, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay),
                         dict(maximize=maximize), {})
