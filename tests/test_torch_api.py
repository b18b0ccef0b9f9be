"""`toylab.optim.AdamW`, `SGD`, `Muon`, `SignSGD` as drop-in torch.optim classes.

Agreement with torch.optim is in float64 to TOL = 1e-12 (relative to the largest parameter): the
op order is torch's single-tensor path, so only rounding differs (reached: 1.5e-16 on the training scripts, 2.2e-16 over 500 steps).
"""
import copy
import inspect
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import toylab.optim
from toylab.options import UserError
from optim_util import rel_err, run_torch, trajectory

TOL = 1e-12

# torch's own argument sets: torch/testing/_internal/common_optimizers.py (torch 2.13),
# optim_inputs_func_adam (= _adamw) and optim_inputs_func_sgd, CPU entries; torch's optimizer
# tests run each with foreach=False and foreach=True.
TORCH_ADAMW_INPUTS = [{}, {"lr": 0.01}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "maximize": True},
                      {"weight_decay": 0.1, "amsgrad": True}]
TORCH_SGD_INPUTS = [{}, {"lr": 1e-2}, {"lr": torch.tensor(0.001)}, {"weight_decay": 0.5}, {"momentum": 0.9},
                    {"weight_decay": 0.1, "maximize": True}, {"momentum": 0.9, "dampening": 0.5},
                    {"momentum": 0.9, "weight_decay": 0.1}, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}]
SCRIPT_CASES = [("AdamW", dict(kw, foreach=f)) for kw in TORCH_ADAMW_INPUTS for f in (False, True)] + \
               [("SGD", dict(kw, foreach=f)) for kw in TORCH_SGD_INPUTS for f in (False, True)]


def training_script(optim, name, kwargs, steps=60):
    """An ordinary torch.optim training loop (MLP, cross-entropy, cosine lr schedule, closure,
    state_dict): nothing in it knows about toylab. `optim` is the module the classes come from."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()
    x, y = torch.randn(64, 8, dtype=torch.float64), torch.randint(0, 3, (64,))
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    for _ in range(steps):
        loss = opt.step(closure)
        schedule.step()
    assert opt.state_dict()["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)  # the cosine's end
    return [p.detach().clone() for p in model.parameters()], loss.item()


@pytest.mark.parametrize("name, kwargs", SCRIPT_CASES, ids=[f"{n}-{k}" for n, k in SCRIPT_CASES])
def test_torch_training_script_runs_unchanged_with_toylab_classes(name, kwargs):
    # a copy each: torch's schedulers fill_ a Tensor lr in place
    expected, expected_loss = training_script(torch.optim, name, copy.deepcopy(kwargs))
    got, loss = training_script(toylab.optim, name, copy.deepcopy(kwargs))
    assert rel_err(got, expected) <= TOL
    assert loss == pytest.approx(expected_loss, rel=TOL)


@pytest.mark.parametrize("name", ["AdamW", "SGD", "Muon"])
def test_signature_is_torchs(name):
    """Every argument of the torch.optim class, in its position and kind, with its default."""
    ours = inspect.signature(getattr(toylab.optim, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
    assert list(ours)[:len(theirs)] == list(theirs)
    for arg, p in theirs.items():
        assert (ours[arg].kind, ours[arg].default) == (p.kind, p.default), arg


# ---- maximize and amsgrad against torch, many steps --------------------------------------------
LONG_CASES = ([("AdamW", dict(lr=1e-2, amsgrad=a, maximize=m, weight_decay=w, betas=(0.8, 0.99)))
               for a in (False, True) for m in (False, True) for w in (0.0, 0.1)]
              + [("SGD", dict(lr=1e-2, maximize=True, **kw)) for kw in
                 [{}, dict(momentum=0.9), dict(momentum=0.9, dampening=0.3, weight_decay=0.1),
                  dict(momentum=0.9, nesterov=True, weight_decay=0.1)]])


@pytest.mark.parametrize("name, kwargs", LONG_CASES, ids=[f"{n}-{k}" for n, k in LONG_CASES])
def test_maximize_and_amsgrad_match_torch_over_500_steps(name, kwargs):
    params, grads = trajectory(steps=500)
    # gradients whose scale drifts, so that AMSGrad's running maximum of v matters
    grads = [[g * (1 + (t % 97) / 10) for g in gs] for t, gs in enumerate(grads)]
    expected = run_torch(getattr(torch.optim, name), kwargs, params, grads)
    assert rel_err(run_torch(getattr(toylab.optim, name), kwargs, params, grads), expected) <= TOL


def test_amsgrad_differs_from_adam_on_this_trajectory():
    """The case above is not vacuous: AMSGrad's maximum changes the result."""
    params, grads = trajectory(steps=500)
    grads = [[g * (1 + (t % 97) / 10) for g in gs] for t, gs in enumerate(grads)]
    runs = [run_torch(toylab.optim.AdamW, dict(lr=1e-2, amsgrad=a, betas=(0.8, 0.99)), params, grads)
            for a in (False, True)]
    assert rel_err(*runs) > 1e-3


# ---- implementation flags and construction-time checks -----------------------------------------
def param():
    return torch.nn.Parameter(torch.zeros(3, 2))


@pytest.mark.parametrize("name, flags", [("AdamW", dict(foreach=f, fused=u)) for f in (None, False, True)
                                         for u in (None, False)] + [("SGD", dict(foreach=True, fused=False))])
def test_honourable_flags_are_accepted(name, flags):
    opt = getattr(toylab.optim, name)([param()], **flags)
    assert all(opt.param_groups[0][k] == v for k, v in flags.items())


@pytest.mark.parametrize("name, flag", [("AdamW", "fused"), ("AdamW", "capturable"), ("AdamW", "differentiable"),
                                        ("SGD", "fused"), ("SGD", "differentiable")])
def test_flags_that_cannot_be_honoured_are_clear_errors(name, flag):
    with pytest.raises(UserError, match=rf"^{flag}=True cannot be honoured: .*; allowed: "):
        getattr(toylab.optim, name)([param()], **{flag: True})


@pytest.mark.parametrize("name, kwargs, message", [
    ("AdamW", dict(betas=(0.9,)), r"betas=\(0.9,\) is not 2 values like 0.9,0.999"),
    ("AdamW", dict(betas=(0.9, 0.99, 0.9)), r"betas=\(0.9, 0.99, 0.9\) is not 2 values"),
    ("AdamW", dict(betas=(1.0, 0.0)), r"betas=\(1.0, 0.0\) is out of range; allowed: each beta in \[0, 1\)"),
    ("AdamW", dict(lr=-1), r"lr=-1.0 is out of range; allowed: >= 0"),
    ("AdamW", dict(lr=torch.tensor([1e-3, 1e-3])), r"lr as a tensor must have 1 element, not 2"),
    ("AdamW", dict(eps="small"), r"eps='small' is not a finite number"),
    ("AdamW", dict(weight_decay=-1), r"weight_decay=-1.0 is out of range"),
    ("AdamW", dict(amsgrad=1), r"amsgrad=1 is not true or false"),
    ("AdamW", dict(amsgard=True), r"unknown adamw optimizer option 'amsgard'"),
    ("AdamW", dict(foreach="yes"), r"foreach='yes' cannot be honoured; allowed: None, False, True"),
    ("SGD", dict(momentum=-0.5), r"momentum=-0.5 is out of range"),
    ("SGD", dict(nesterov=True), r"nesterov=true needs momentum > 0 and dampening = 0"),
    ("SGD", dict(lr=None), r"lr=None is not a finite number"),
    ("Muon", dict(adjust_lr_fn="rms"), r"adjust_lr='rms' is not allowed; choose one of original"),
    ("Muon", dict(ns_steps=2.5), r"ns_steps=2.5 is not an integer"),
    ("Muon", dict(ns_coefficients=(1.0, 2.0)), r"ns_coefficients=\(1.0, 2.0\) is not 3 values"),
    ("SignSGD", dict(momentum=1.0), r"momentum=1.0 is out of range"),
])
def test_bad_arguments_fail_at_construction_with_one_line(name, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        getattr(toylab.optim, name)([param()], **kwargs)
    assert "\n" not in str(err.value)


def test_param_groups_are_checked_when_added_and_when_changed():
    opt = toylab.optim.AdamW([param()], lr=1e-2)
    with pytest.raises(UserError, match=r"betas=\(0.9,\) is not 2 values"):
        opt.add_param_group({"params": [param()], "betas": (0.9,)})
    p = opt.param_groups[0]["params"][0]
    p.grad = torch.ones_like(p)
    opt.step()
    opt.param_groups[0]["lr"] = -0.5  # as a buggy scheduler might
    with pytest.raises(UserError, match=r"lr=-0.5 is out of range"):
        opt.step()


# ---- schedulers and state ------------------------------------------------------------------------
def mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU(),
                               torch.nn.Linear(8, 2)).double()


def train(model, opt, steps, schedule=None, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(16, 6, generator=gen, dtype=torch.float64)
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        if schedule is not None:
            schedule.step()
    return [p.detach().clone() for p in model.parameters()]


SCHEDULES = {"OneCycleLR": lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=40),
             "StepLR": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
             "LinearLR": lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=10)}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("name, kwargs", [("AdamW", dict(lr=1e-2, amsgrad=True)),
                                          ("SGD", dict(lr=1e-2, momentum=0.9, nesterov=True))])
def test_torch_lr_schedulers_drive_them(schedule, name, kwargs):
    """OneCycleLR also cycles the momentum (AdamW's betas[0], SGD's momentum) every step."""
    runs = []
    for module in (torch.optim, toylab.optim):
        model = mlp()
        opt = getattr(module, name)(model.parameters(), **kwargs)
        runs.append(train(model, opt, 40, SCHEDULES[schedule](opt)))
    assert rel_err(runs[1], runs[0]) <= TOL


RESUME_CASES = [("AdamW", dict(lr=1e-2, amsgrad=True, weight_decay=0.1)),
                ("SGD", dict(lr=1e-2, momentum=0.9, dampening=0.1)),
                ("SignSGD", dict(lr=1e-3, momentum=0.9, weight_decay=0.1)),
                ("Muon", dict(lr=1e-2, adamw_lr=1e-2))]


@pytest.mark.parametrize("name, kwargs", RESUME_CASES, ids=[n for n, _ in RESUME_CASES])
def test_state_dict_resume_is_bit_identical(name, kwargs):
    cls = getattr(toylab.optim, name)
    model = mlp()
    opt = cls(model.parameters(), **kwargs)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)
    train(model, opt, 10, schedule)
    saved = copy.deepcopy((model.state_dict(), opt.state_dict(), schedule.state_dict()))
    expected = train(model, opt, 20, schedule, seed=2)

    model = mlp(seed=5)
    opt = cls(model.parameters(), lr=0.5)  # every value comes from the state dict
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)
    model.load_state_dict(saved[0])
    opt.load_state_dict(saved[1])
    schedule.load_state_dict(saved[2])
    got = train(model, opt, 20, schedule, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


@pytest.mark.parametrize("direction", ["torch to toylab", "toylab to torch"])
def test_state_dicts_cross_load_between_torch_and_toylab(direction):
    """The state is torch's (same names, per parameter), so either can resume the other's run."""
    first, then = (torch.optim, toylab.optim) if direction == "torch to toylab" else (toylab.optim, torch.optim)
    kwargs = dict(lr=1e-2, amsgrad=True, weight_decay=0.1)
    model = mlp()
    opt = first.AdamW(model.parameters(), **kwargs)
    train(model, opt, 10)
    saved = copy.deepcopy((model.state_dict(), opt.state_dict()))
    expected = train(model, opt, 10, seed=2)
    model = mlp()
    model.load_state_dict(saved[0])
    opt = then.AdamW(model.parameters(), **kwargs)
    opt.load_state_dict(saved[1])
    assert rel_err(train(model, opt, 10, seed=2), expected) <= TOL


def test_parameters_without_gradients_are_skipped_like_torch():
    """A parameter with no gradient this step keeps its value and state (its own step count)."""
    runs = []
    for module in (torch.optim, toylab.optim):
        model = mlp()
        opt = module.AdamW(model.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(0)
        for t in range(12):
            opt.zero_grad()
            x = torch.randn(16, 6, generator=gen, dtype=torch.float64)
            out = model(x) if t % 3 else model[:2](x).sum(-1, keepdim=True)  # only layer 1 gets gradients
            out.pow(2).mean().backward()
            opt.step()
        runs.append([p.detach().clone() for p in model.parameters()])
    assert rel_err(runs[1], runs[0]) <= TOL


def test_muon_batches_same_shaped_matrices_and_matches_per_matrix_steps():
    """Four 8×8 matrices advance in one stacked call; each equals Muon on that matrix alone."""
    params, grads = trajectory([(8, 8)] * 4 + [(8,)], steps=20)
    kwargs = dict(lr=2e-2, ns_dtype="float64")
    together = run_torch(toylab.optim.Muon, kwargs, params, grads)
    alone = [run_torch(toylab.optim.Muon, kwargs, [p], [[g[i]] for g in grads])[0] for i, p in enumerate(params)]
    assert rel_err(together, alone) <= TOL
    opt = toylab.optim.Muon([torch.nn.Parameter(p.clone()) for p in params])
    for p in opt.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    opt.step()
    buckets = opt._plans[0][1]
    assert sorted((b.K, b.stacked) for b in buckets) == [(1, False), (4, True)]


def test_the_model_still_trains_after_it_moves():
    """`model.to(...)` replaces parameter storage: the buckets are rebuilt, the state is kept."""
    model = mlp()
    opt = toylab.optim.AdamW(model.parameters(), lr=1e-2)
    train(model, opt, 3)
    model.float()
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randn(16, 6)
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    opt.step()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert int(opt.state[next(model.parameters())]["step"]) == 4


def test_the_readme_drop_in_example_is_torchs_adamw():
    """The README's example under `was: from torch.optim import AdamW`, its own model and
    CosineAnnealingLR, 300 steps in float64: the same constructor line with either class ends at
    the same parameters (TOL); a toylab switch there (zero_init=False) ended 32–36 % away."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme[readme.index("# was: from torch.optim import AdamW"):]
    (line,) = [text.strip() for text in block.splitlines()[:6] if text.strip().startswith("opt = AdamW(")]

    def train(module):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(), torch.nn.Linear(128, 10)).double()
        x, y = torch.randn(256, 64, dtype=torch.float64), torch.randint(0, 10, (256,))
        opt = eval(line.removeprefix("opt = "), {"AdamW": module.AdamW, "model": model})
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
        for _ in range(300):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            schedule.step()
        return [p.detach().clone() for p in model.parameters()]

    assert rel_err(train(toylab.optim), train(torch.optim)) <= TOL
