"""What one run is: a problem, an optimizer, their options, a seed and a step budget.

`RunConfig.resolve` fills every default and validates every value, so a config's JSON form
says everything needed to re-run it, and its hash (which also covers the source of the
problem's file and of toylab itself) names its run folder. Configs with equal `group_key`
run together as one batched tensor program; they may differ only in dynamic hyperparameters,
schedules and seeds.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import optim, probes, problems
from . import schedules as schedule_lib
from .options import DTYPES, Option, UserError, format_value, positive, resolve


# Weight decay given as an EMA timescale instead of λ (docs/claims.md C9): hparams keys that
# `RunConfig.resolve` replaces by the `weight_decay` they imply.
TIMESCALES = {
    "tau_iter": Option(1.0, "EMA timescale of decoupled decay in iterations: λ = 1/(η τ_iter) (C9)", **positive()),
    "tau_epoch": Option(1.0, "EMA timescale in epochs: τ_iter = τ_epoch·M, M iterations per epoch (C9)",
                        **positive()),
}


def decay_from_timescale(optimizer: str, hp: dict, timescale: dict, problem, given: set) -> dict:
    """docs/claims.md C9, 004 eqs. 6, 8, 9: set λ = 1/(η τ_iter), τ_iter = τ_epoch·M, from one timescale.

    η is the (peak) `lr` of the resolved `hp`; M is `problem.iters_per_epoch()` (finite data only).
    """
    if len(timescale) > 1 or "weight_decay" in given:
        raise UserError("give one of tau_iter, tau_epoch or weight_decay, not several")
    if "weight_decay" not in hp:
        raise UserError(f"{optimizer} has no weight_decay for a timescale to set")
    (name, text), = timescale.items()
    tau = resolve("timescale", {name: TIMESCALES[name]}, {name: text})[name]
    if name == "tau_epoch":
        iters = problem.iters_per_epoch()
        if iters is None:
            raise UserError(f"tau_epoch needs a finite dataset; {problem.name} streams data (use tau_iter)")
        tau = tau * iters
    if hp["lr"] <= 0:
        raise UserError("a decay timescale needs lr > 0")
    return {**hp, "weight_decay": 1.0 / (hp["lr"] * tau)}


@dataclass(frozen=True)
class RunConfig:
    problem: str
    optimizer: str
    problem_options: dict[str, Any] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    schedules: dict[str, str] = field(default_factory=dict)  # hparam -> schedule spec
    steps: int = 1000
    seed: int = 0
    metric_every: int = 10
    probes: tuple[str, ...] = ()
    probe_every: int = 10
    dtype: str = "float32"
    blowup: float = 1e6  # diverged once the batch loss exceeds blowup × its first value; 0 = off
    compile: bool = True  # the fused optimizer step after step 1 (optim/fused.py; eager where no C compiler works)

    def resolve(self) -> "RunConfig":
        """Fill defaults, validate, and canonicalise (tuples, schedule specs)."""
        problem_cls = problems.get(self.problem)
        opt = optim.get(self.optimizer)
        for name in ("steps", "metric_every", "probe_every"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise UserError(f"{name}={value!r} must be a positive integer")
        if not _is_int(self.seed) or self.seed < 0:
            raise UserError(f"seed={self.seed!r} must be a non-negative integer")
        if not isinstance(self.schedules, dict) or not all(isinstance(v, str) for v in self.schedules.values()):
            raise UserError(f"schedules={self.schedules!r} must map hyperparameters to specs like 'cosine'")
        if not isinstance(self.probes, (list, tuple)) or not all(isinstance(p, str) for p in self.probes):
            raise UserError(f"probes={self.probes!r} must be a list of probe names")
        if not isinstance(self.blowup, (int, float)) or isinstance(self.blowup, bool) or not (
                self.blowup == 0 or self.blowup > 1):
            raise UserError(f"blowup={self.blowup!r} must be 0 (off) or a number > 1")
        if not isinstance(self.compile, bool):
            raise UserError(f"compile={self.compile!r} must be true or false")
        if self.dtype not in DTYPES:
            raise UserError(f"dtype={self.dtype!r} is not allowed; choose one of {', '.join(DTYPES)}")
        problem_options = resolve(f"{self.problem} problem", problem_cls.options(), self.problem_options)
        hparams = dict(self.hparams)
        timescale = {k: hparams.pop(k) for k in TIMESCALES if k in hparams}
        hp = resolve(f"{self.optimizer} optimizer", opt.hparams, hparams)
        if timescale:
            hp = decay_from_timescale(self.optimizer, hp, timescale, problem_cls(**problem_options), set(hparams))
        unknown = sorted(set(self.schedules) - set(opt.hparams))
        if unknown:
            raise UserError(f"cannot schedule {unknown[0]!r}; {self.optimizer} hyperparameters: {', '.join(opt.hparams)}")
        probes.get(self.probes)
        return dataclasses.replace(
            self,
            problem_options=problem_options,
            hparams=hp,
            schedules={k: schedule_lib.parse(v).spec for k, v in sorted(self.schedules.items())},
            probes=tuple(self.probes),
            blowup=float(self.blowup),
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON holds it (tuples as lists)."""
        return _plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        d = dict(d)
        d["probes"] = tuple(d.get("probes", ()))
        for key in ("problem_options", "hparams"):
            d[key] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.get(key, {}).items()}
        return cls(**d)

    def sources(self) -> dict[str, str]:
        """Hashes of the code the run depends on: the problem's file and toylab's numerical code."""
        return {"problem": problems.get(self.problem).source_hash(), "toylab": toylab_source_hash()}

    def hash(self) -> str:
        """`config_hash` of this config, computed once per config object: a config is never
        changed after it is made (`dataclasses.replace` makes a new one)."""
        if "_hash" not in self.__dict__:  # kept beside the fields, outside them (frozen: no setattr)
            object.__setattr__(self, "_hash", config_hash(self.to_dict(), self.sources()))
        return self.__dict__["_hash"]

    def group_key(self) -> str:
        names = optim.get(self.optimizer).static
        static = {k: v for k, v in self.hparams.items() if k in names}
        key = (self.problem, self.problem_options, self.optimizer, static, self.steps,
               self.metric_every, self.probes, self.probe_every, self.dtype, self.compile)
        return json.dumps(key, sort_keys=True, default=list)

    def label(self) -> str:
        """A short human label: optimizer, lr and the hyperparameters that differ from defaults."""
        opt = optim.get(self.optimizer)
        diff = [f"{k}={format_value(v)}" for k, v in self.hparams.items()
                if k == "lr" or v != opt.hparams[k].default]
        return " ".join([self.optimizer] + diff)


def _plain(value):
    """`value` with every tuple a list, as a JSON round trip gives it."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_hash(config: dict, sources: dict[str, str]) -> str:
    """The run folder's name: sha256 of the config's JSON form and of the code it ran with."""
    payload = {"config": config, "problem_source": sources["problem"], "toylab_source": sources["toylab"]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@lru_cache(maxsize=1)
def toylab_source_hash() -> str:
    """Hash of the numerical code (optimizers, engine, problems API): editing it invalidates runs."""
    root = Path(__file__).resolve().parent
    files = sorted(root.glob("optim/*.py")) + sorted(root.glob("probes/*.py")) + [root / n for n in ("engine.py", "problems.py", "schedules.py")]
    h = hashlib.sha256()
    for f in files:
        if f.exists():
            h.update(f.read_bytes())
    return h.hexdigest()[:12]
