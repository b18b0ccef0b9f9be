"""Toy problems: a pure loss for one configuration plus a data sampler, found by file discovery.

A problem is a subclass of `Problem`, decorated with `@register` (which makes it a frozen
dataclass), whose fields are its options declared with `option(default, help, ...)`, in a file
under `problems/`.
The engine batches it over K configurations:

* `init_params(gen)` and `make_data(gen)` depend on the seed only (one config, no K axis);
* `sample(data, gen, step)` draws one batch for one seed (default `{}`: a deterministic problem,
  such as Rosenbrock); `sample_many(data, gen, steps)` the batches of several steps at once,
  stacked `[C, ...]`, the same numbers (the default loops);
* `loss(params, batch)` is the loss of ONE configuration, a pure function of tensors: the
  engine differentiates it with `torch.func.grad` and batches it with `torch.func.vmap`;
* `metrics(params, data)` gets params with a leading K axis (the configs of one seed) and the
  seed's data, and returns `{name: Tensor[K]}`.

Optional fast paths, each checked against the generic route by `tests/test_problem_api.py`:
`loss_and_grad(params, batch)` batched over K (closed-form gradients), its per-seed form
`loss_and_grad_per_seed(params, batch, sizes, work)` (configs in contiguous groups of
`sizes[s]` sharing batch s, the batch not copied per config; `work` is a dict the engine keeps
between steps, where `buffer` keeps its large outputs, valid until the next call), and
`optimum(data)`. A config's numbers must not depend on the other configs of its batch: every
product a config takes part in is a bmm over the configs (`toylab.batched`), never a product
folded over them (such as `[d, d] @ [K, d, D]`, one mm whose rounding follows K) unless
`batched.group_mm` has checked that the fold rounds each config as its own product.
For the moments probe (docs/claims.md C12, `toylab/probes/moments.py`): `per_example_grads`
(the terms g_b of G = Σ_b g_b, `[K, B, *shape]`), `per_example_grad_moments` (Σ_b g_b and
Σ_b g_b² in float64) and `population_gradient_moments(params, data)` (mean and variance of
one example's term).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from .options import Option, UserError, resolve, warn

Batch = dict[str, Tensor]
Params = dict[str, Tensor]


def option(default: Any, help: str, **kw) -> Any:
    """A problem option: a dataclass field that carries its `Option` declaration."""
    return dataclasses.field(default=default, metadata={"option": Option(default, help, **kw)})


@dataclasses.dataclass(frozen=True)
class Problem:
    name: ClassVar[str]
    description: ClassVar[str]
    dtype: ClassVar[torch.dtype] = torch.float32  # set per run by `build`
    device: ClassVar[torch.device] = torch.device("cpu")
    # The loss is ≥ 0, so growth past `blowup` × its first value means divergence (engine).
    nonnegative_loss: ClassVar[bool] = True

    # ----- what every problem defines --------------------------------------------------
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def init_params(self, gen: torch.Generator) -> Params:
        raise NotImplementedError

    def make_data(self, gen: torch.Generator) -> dict[str, Tensor]:
        return {}

    def sample(self, data: dict[str, Tensor], gen: torch.Generator, step: int) -> Batch:
        """The batch of one step; `{}` (the default) for a deterministic problem."""
        return {}

    def sample_many(self, data: dict[str, Tensor], gen: torch.Generator, steps: range) -> Batch:
        """The batches of `steps`, stacked `[len(steps), ...]`: exactly `sample` step after step."""
        batches = [self.sample(data, gen, t) for t in steps]
        return {k: torch.stack([b[k] for b in batches]) for k in batches[0]}

    def loss(self, params: Params, batch: Batch) -> Tensor:
        raise NotImplementedError

    # ----- optional ----------------------------------------------------------------------
    def metrics(self, params: Params, data: dict[str, Tensor]) -> dict[str, Tensor]:
        return {}

    def param_layout(self) -> dict[str, tuple[int, ...]]:
        """Memory order of a parameter's dims where a fast path wants another than row-major:
        `{name: permutation}` (e.g. `(1, 0)`: a matrix kept transposed); the engine allocates
        parameters, state and buffers so, behind the same logical shape `[K, *shape]`."""
        return {}

    def normalized_params(self) -> set[str]:
        """Names of parameters the loss is invariant to the scale of (for corrected decay)."""
        return set()

    def iters_per_epoch(self) -> int | None:
        """M, the steps of one pass over a finite dataset (docs/claims.md C9); None for streaming data."""
        return None

    def validate(self) -> None:
        """Cross-option checks; raise `UserError` with a one-line message."""

    loss_and_grad = None  # fast path: (params[K], batch[K]) -> (loss[K], grads[K])
    # fast path for configs in S contiguous groups sharing their seed's batch:
    # (params[K], batch[S], sizes: configs per seed) -> (loss[K], grads[K])
    loss_and_grad_per_seed = None
    # (optional `work`: a dict kept between calls for `buffer`; the outputs may live there)

    # ----- helpers for the engine --------------------------------------------------------
    @classmethod
    def options(cls) -> dict[str, Option]:
        return {f.name: f.metadata["option"] for f in dataclasses.fields(cls) if "option" in f.metadata}

    def option_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.options()}

    def randn(self, gen: torch.Generator, *shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=self.dtype, device=self.device)

    @classmethod
    def source_hash(cls) -> str:
        """Hash of the file defining the problem: editing it invalidates cached runs."""
        if cls not in _SOURCE_HASHES:
            source = inspect.getsource(sys.modules[cls.__module__]).encode()
            _SOURCE_HASHES[cls] = hashlib.sha256(source).hexdigest()[:12]
        return _SOURCE_HASHES[cls]


def buffer(work: dict, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A tensor of `shape` (dtype and device of `like`) kept in `work` under `name`, reused while
    its shape holds: an op writing into a buffer still in cache runs 2–3× faster on a CPU than
    one that writes a freshly allocated megabyte (README, Performance)."""
    kept = work.get(name)
    if kept is None or kept.shape != shape or kept.dtype != like.dtype:
        kept = work[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
    return kept


REGISTRY: dict[str, type[Problem]] = {}
BROKEN: dict[Path, str] = {}  # problem files that failed to load: path -> one-line reason
_SOURCE_HASHES: dict[type, str] = {}


class ProblemFileError(Exception):
    """A problem file that cannot work as written; its message names the fix (one line)."""


REQUIRED = {"param_shapes": "param_shapes(self), the shape of each parameter of one config",
            "init_params": "init_params(self, gen), the initial parameters of one config",
            "loss": "loss(self, params, batch), the loss of one config as a scalar tensor"}


def register(cls: type[Problem]) -> type[Problem]:
    """Class decorator: make the problem a frozen dataclass (its options are fields) and list it.
    A name already registered from another file is an error (a user problem never silently
    replaces a built-in one); a problem without a method every problem needs is a broken file."""
    missing = [what for name, what in REQUIRED.items() if getattr(cls, name) is getattr(Problem, name)
               and not (name == "loss" and cls.loss_and_grad is not None)]
    if missing:
        raise ProblemFileError(f"problem {cls.__name__} defines no {missing[0]}; add it (README, Add a toy problem)")
    if "__dataclass_fields__" not in cls.__dict__:
        cls = dataclasses.dataclass(frozen=True)(cls)
    old = REGISTRY.get(cls.name)
    if old is not None and _file_of(old) != _file_of(cls):
        raise UserError(f"problem name {cls.name!r} is defined twice: in {_file_of(old)} and in "
                        f"{_file_of(cls)}; rename one of them")
    REGISTRY[cls.name] = cls
    return cls


def _file_of(cls: type) -> str:
    return getattr(sys.modules.get(cls.__module__), "__file__", None) or cls.__module__


def problem_dirs() -> list[Path]:
    """`problems/` of the repository, then every folder in $TOYLAB_PROBLEMS (os.pathsep-separated)."""
    dirs = [Path(__file__).resolve().parent.parent / "problems"]
    dirs += [Path(p) for p in os.environ.get("TOYLAB_PROBLEMS", "").split(os.pathsep) if p]
    return dirs


def _unusable(folder: Path) -> str | None:
    """Why a $TOYLAB_PROBLEMS entry holds no problems, or None for a folder."""
    if not folder.exists():
        return "does not exist"
    if not folder.is_dir():
        return "is a file, not a folder (put problem files into a folder and list the folder)"
    return None


_loaded: set[Path] = set()
_scanned_for: str | None = None  # $TOYLAB_PROBLEMS at the last scan


def discover() -> dict[str, type[Problem]]:
    """Import every `*.py` in the problem folders once; each registers its problems.

    A file that fails to import is skipped with a one-line warning naming it (the other
    problems keep working); a problem name defined in two files is a `UserError`. The folders
    are scanned again only when `$TOYLAB_PROBLEMS` changes or a name is not found."""
    global _scanned_for
    if _scanned_for == os.environ.get("TOYLAB_PROBLEMS", ""):
        return REGISTRY
    for i, folder in enumerate(problem_dirs()):
        why = _unusable(folder)
        if why:
            if i:  # the repository's own problems/ may be absent from an installed copy
                warn(f"TOYLAB_PROBLEMS lists {folder}, which {why}; no problems are loaded from it")
            continue
        for path in sorted(folder.glob("*.py")):
            path = path.resolve()
            if path in _loaded or path in BROKEN or path.name.startswith("_"):
                continue
            _load(path)
    _scanned_for = os.environ.get("TOYLAB_PROBLEMS", "")
    return REGISTRY


def _load(path: Path) -> None:
    name = f"toylab_problems.{path.stem}"
    before = dict(REGISTRY)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the author's code: any error, reported as one line
        REGISTRY.clear()
        REGISTRY.update(before)
        sys.modules.pop(name, None)
        if isinstance(e, UserError):
            raise
        if isinstance(e, SystemExit):
            BROKEN[path] = f"it calls sys.exit({e.code!r}) while loading; a problem file should only define problems"
        elif isinstance(e, ProblemFileError):
            BROKEN[path] = str(e)
        else:
            BROKEN[path] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
        warn(f"skipped problem file {path}: {BROKEN[path]}")
        return
    _loaded.add(path)


def get(name: str) -> type[Problem]:
    global _scanned_for
    discover()
    if name not in REGISTRY:
        _scanned_for = None  # a file may have been added since the last scan
        discover()
    if name not in REGISTRY:
        broken = "".join(f"; {path} failed to load ({why})" for path, why in BROKEN.items())
        raise UserError(f"unknown problem {name!r}; valid problems: {', '.join(sorted(REGISTRY))}{broken}")
    return REGISTRY[name]


def build(name: str, options: dict[str, Any], dtype=torch.float32, device="cpu") -> Problem:
    cls = get(name)
    values = resolve(f"{name} problem", cls.options(), options)
    problem = cls(**values)
    object.__setattr__(problem, "dtype", dtype)
    object.__setattr__(problem, "device", torch.device(device))
    problem.validate()
    return problem
