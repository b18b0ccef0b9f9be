"""The batched protocol: K configs in one call equal K single-config calls; purity; bad values."""
import pytest
import torch

from toylab.optim import get, hyperparameters, names, torch_api
from toylab.options import UserError, resolve
from optim_util import SHAPES, run_functional, run_single, trajectory

BATCHES = {  # K = 3 configs per optimizer, differing in every dynamic hyperparameter
    "adamw": [dict(lr=1e-2, betas=(0.9, 0.999), weight_decay=0.1),
              dict(lr=3e-2, betas=(0.5, 0.9), eps=1e-4, bias_correction=False, corrected_decay=True),
              dict(lr=0.0, weight_decay=0.0, zero_init=False, corrected_decay=True)],
    "adamw_nested": [dict(nested_ema=True, lr=1e-2, betas=(0.9, 0.999), weight_decay=0.1),
                     dict(nested_ema=True, lr=3e-2, betas=(0.5, 0.9), eps=1e-4, bias_correction=False),
                     dict(nested_ema=True, lr=1e-3, zero_init=False, corrected_decay=True)],
    "sgd": [dict(lr=1e-2, momentum=0.9, nesterov=True, weight_decay=0.1),
            dict(lr=3e-2, momentum=0.5, dampening=0.5, weight_decay=0.2, decoupled_decay=True,
                 corrected_decay=True),
            dict(lr=1e-1, weight_decay=0.3, corrected_decay=True)],
    "signsgd": [dict(lr=1e-2), dict(lr=3e-2, momentum=0.9, weight_decay=0.1),
                dict(lr=0.0, momentum=0.5, weight_decay=1.0)],
    "muon": [dict(lr=2e-2),
             dict(lr=5e-2, momentum=0.5, nesterov=False, weight_decay=0.0, adamw_lr=1e-2),
             dict(lr=1e-3, eps=1e-3, adamw_betas=(0.5, 0.6), adamw_eps=1e-3)],
    "muon_normuon": [dict(lr=2e-2, normalize="rows"),
                     dict(lr=5e-2, momentum=0.5, nesterov=False, normuon_beta2=0.5, normalize="rows"),
                     dict(lr=1e-3, normuon_beta2=0.0, normuon_eps=1e-3, normalize="rows")],
}


def schedule(t):
    return 1.0 - t / 40


@pytest.mark.parametrize("name", list(BATCHES))
def test_batch_equals_separate_runs(name):
    """Row k of a K-config run is bitwise the K = 1 run of config k (float64)."""
    opt, values = get(name.split("_")[0]), BATCHES[name]
    runs = [trajectory(seed=k, steps=20) for k in range(len(values))]
    params = [torch.stack([r[0][i] for r in runs]) for i in range(len(SHAPES))]
    grads = [[torch.stack([r[1][t][i] for r in runs]) for i in range(len(SHAPES))]
             for t in range(20)]
    kw = dict(schedule=schedule, normalized=(1,))
    batched, aux = run_functional(opt, values, params, grads, **kw)
    for k, (v, (p0, gs)) in enumerate(zip(values, runs)):
        single, single_aux = run_single(opt, v, p0, gs, **kw)
        for i in range(len(SHAPES)):
            assert torch.equal(batched[i][k], single[i])
            assert torch.equal(aux["direction"][f"p{i}"][k], single_aux["direction"][f"p{i}"][0])


@pytest.mark.parametrize("name", names())
def test_update_leaves_its_inputs_alone(name):
    opt = get(name)
    hp = hyperparameters(opt, [resolve("test", opt.hparams, {})], torch.float64, "cpu")
    params, grads = trajectory(steps=1)
    params = {f"p{i}": p.unsqueeze(0) for i, p in enumerate(params)}
    grads = {f"p{i}": g.unsqueeze(0) for i, g in enumerate(grads[0])}
    state = opt.init(params, hp)
    before = [{k: v.clone() for k, v in d.items()} for d in (params, grads)]
    state_before = {s: {k: v.clone() for k, v in d.items()} for s, d in state.items()}
    opt.update(grads, state, params, hp, 1)
    for d, b in zip((params, grads), before):
        assert all(torch.equal(d[k], b[k]) for k in d)
    assert all(torch.equal(state[s][k], state_before[s][k]) for s in state for k in state[s])


BAD = [("adamw", {"lr": -1}, ["lr=-1", ">= 0"]),
       ("adamw", {"betas": (0.9, 1.0)}, ["betas=(0.9, 1.0)", "[0, 1)"]),
       ("adamw", {"eps": -1e-8}, ["eps", ">= 0"]),
       ("sgd", {"momentum": 1.5}, ["momentum=1.5", "0 <= x < 1"]),
       ("signsgd", {"weight_decay": -0.1}, ["weight_decay=-0.1", ">= 0"]),
       ("muon", {"ns_steps": 0}, ["ns_steps=0", "1 to 99"]),
       ("muon", {"adjust_lr": "rms"}, ["adjust_lr='rms'", "match_rms_adamw"]),
       ("muon", {"ns_dtype": "float16"}, ["ns_dtype='float16'", "bfloat16"]),
       ("muon", {"eps": 0.0}, ["eps=0.0", "> 0"])]


@pytest.mark.parametrize("name, given, words", BAD, ids=[f"{b[0]}-{b[1]}" for b in BAD])
def test_bad_hyperparameters_name_value_and_range(name, given, words):
    with pytest.raises(UserError) as err:
        resolve(f"{name} optimizer", get(name).hparams, given)
    assert all(w in str(err.value) for w in words)


def test_sgd_nesterov_needs_momentum_without_dampening():
    opt = get("sgd")
    for given in [dict(nesterov=True), dict(nesterov=True, momentum=0.9, dampening=0.1)]:
        hp = hyperparameters(opt, [resolve("sgd optimizer", opt.hparams, given)], torch.float64, "cpu")
        with pytest.raises(UserError, match="nesterov"):
            opt.init({"w": torch.zeros(1, 3)}, hp)


def test_torch_wrapper_validates_like_the_lab():
    w = torch.zeros(3, requires_grad=True)
    with pytest.raises(UserError, match="lr=-1"):
        torch_api.AdamW([w], lr=-1)
    with pytest.raises(UserError, match="unknown adamw optimizer option 'amsgard'"):
        torch_api.AdamW([w], amsgard=True)
    with pytest.raises(UserError, match="momentum=2"):
        torch_api.SGD([w], lr=0.1).add_param_group({"params": [torch.zeros(2)], "momentum": 2})
