"""A problem checked before it runs: one dry step of two configs through the engine's own calls.

With the run's options, dtype and device, one seed's `make_data`, `init_params`, a batch from
`sample` and `sample_many`, the gradient (the problem's fast path or `vmap(grad(loss))`) and
`metrics` are called once and their results compared with the Problem API (`toylab/problems.py`):

    init_params      {name: Tensor[*shape]} with the names and shapes of `param_shapes`, floating
    sample           {name: Tensor}, possibly {} (a deterministic problem); sample_many: [C, ...]
    loss             a scalar per config: `[K]` batched, with gradients `[K, *shape]`
    metrics          {name: Tensor[K]}

Any mismatch, or an exception raised by the problem's code, is a one-line `UserError` that names
the problem's file, the method and the fix, before any work; checked once per problem, options,
dtype and device in a process.
"""
from __future__ import annotations

import torch

from . import engine, problems
from .options import UserError

K = 2  # configs of the dry step
_CHECKED: set[str] = set()


def check(name: str, options: dict, dtype: torch.dtype, device: torch.device) -> None:
    """The dry step of problem `name` with resolved `options` (see the module)."""
    key = repr((name, sorted(options.items()), dtype, str(device)))
    if key in _CHECKED:
        return
    problem = problems.build(name, options, dtype=dtype, device=device)
    where = f"problem {name} ({problems._file_of(type(problem))})"

    def call(method: str, *args):
        try:
            return getattr(problem, method)(*args)
        except UserError:
            raise
        except Exception as e:  # the author's code: any error, as one line
            text = str(e).splitlines()[0] if str(e) else ""
            raise UserError(f"{where}: {method}() raised {type(e).__name__}: {text}".rstrip(": ")) from None

    def expect(ok: bool, message: str) -> None:
        if not ok:
            raise UserError(f"{where}: {message}")

    shapes = call("param_shapes")
    expect(isinstance(shapes, dict) and shapes and all(isinstance(s, tuple) for s in shapes.values()),
           f"param_shapes() returned {shapes!r}; it must return {{name: shape tuple}}, e.g. {{'w': (8,)}}")
    gen = engine.seed_generator(0, "data", device)
    data = _tensors(call("make_data", gen), "make_data()", expect)
    init = _tensors(call("init_params", engine.seed_generator(0, "init", device)), "init_params()", expect)
    got = {k: tuple(v.shape) for k, v in init.items()}
    expect(got == {k: tuple(s) for k, s in shapes.items()},
           f"init_params() gives shapes {got}, param_shapes() says {shapes}; make them agree")
    expect(all(v.is_floating_point() for v in init.values()),
           f"init_params() gives {', '.join(f'{k}: {v.dtype}' for k, v in init.items())}; parameters must be "
           f"floating point (use self.randn or a float tensor)")
    init = {k: v.to(device=device, dtype=dtype) for k, v in init.items()}  # as the engine moves them
    data = {k: v.to(device) for k, v in data.items()}
    stream = engine.seed_generator(0, "stream", device)
    batch = _tensors(call("sample", data, stream, 1), "sample()", expect)
    many = _tensors(call("sample_many", data, stream, range(1, 3)), "sample_many()", expect)
    expect(set(many) == set(batch) and all(v.shape[:1] == (2,) for v in many.values()),
           "sample_many(data, gen, steps) must return sample()'s keys stacked [len(steps), ...]")

    params = {k: v.expand(K, *v.shape).clone() for k, v in init.items()}
    batched = {k: v.to(device).expand(K, *v.shape) for k, v in batch.items()}
    if problem.loss_and_grad is None:  # the generic route: one config's loss must be a scalar
        one = call("loss", init, batch)
        expect(isinstance(one, torch.Tensor) and one.dim() == 0,
               f"loss(params, batch) returned {_describe(one)}; it must return one config's loss as a scalar "
               f"tensor (sum or average over the batch, e.g. ((pred - y) ** 2).mean())")
    try:
        loss, grads = engine.gradient_fn(problem)(params, batched)
    except Exception as e:
        text = str(e).splitlines()[0] if str(e) else ""
        raise UserError(f"{where}: the gradient of loss could not be computed ({type(e).__name__}: {text}); "
                        f"loss must be a differentiable function of params and batch (torch ops only)") from None
    expect(tuple(loss.shape) == (K,), f"the loss of {K} configs has shape {list(loss.shape)}, not [{K}]")
    expect({k: tuple(g.shape) for k, g in grads.items()} == {k: tuple(p.shape) for k, p in params.items()},
           "the gradients' shapes differ from the parameters'; loss_and_grad must return one per parameter")
    metrics = call("metrics", params, data)
    expect(isinstance(metrics, dict), f"metrics(params, data) returned {_describe(metrics)}; it must return "
                                      f"{{name: Tensor[K]}}")
    for metric, value in metrics.items():
        expect(isinstance(value, torch.Tensor) and tuple(value.shape) == (K,),
               f"metrics() gives {metric} as {_describe(value)} for {K} configs; it must give one value per "
               f"config, shape [K] (params carry a leading K axis: reduce over the other axes, e.g. .sum(-1))")
    _CHECKED.add(key)


def _tensors(value, what: str, expect) -> dict:
    expect(isinstance(value, dict) and all(isinstance(v, torch.Tensor) for v in value.values()),
           f"{what} returned {_describe(value)}; it must return a dict of tensors")
    return value


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in value.items()) + "}"
    return f"a {type(value).__name__}"
