"""Muon's orthogonalizers (float64 unless stated): the exact polar factor against scipy, the
polynomial methods against written-out loops, Polar Express's coefficients against an
independent minimax (Remez) construction and its per-step bounds, and Muon's default path."""
import numpy as np
import pytest
import scipy.linalg
import torch

from toylab import engine
from toylab.config import RunConfig
from toylab.optim import muon, torch_api
from toylab.optim import hyperparameters
from toylab.optim.orthogonalize import (ORTHOGONALIZERS, POLAR_EXPRESS_COEFFICIENTS, POLAR_EXPRESS_LOWER_BOUND,
                                        orthogonalize, polar_express_schedule, singular_value_map, svd)
from toylab.options import UserError, resolve

NS = (3.4445, -4.7750, 2.0315)  # Muon's default, as torch.optim.Muon has it


def newton_schulz(G, coefficients, steps, eps):
    return orthogonalize(G, eps, "newton_schulz", steps, coefficients)


def polar_express(G, steps, eps, safety):
    return orthogonalize(G, eps, "polar_express", steps, safety=safety)


def matrices(K=4, m=6, n=3, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(K, m, n, generator=gen, dtype=dtype) * torch.logspace(0, -2, n, dtype=dtype)


def eps_for(G, value=1e-7):
    return torch.full((G.shape[0],), value, dtype=G.dtype)


@pytest.mark.parametrize("shape", [(6, 3), (3, 6), (5, 5)])
def test_svd_is_the_polar_factor_of_scipy_and_orthogonal_to_rounding(shape):
    G = matrices(4, *shape)
    O = svd(G, eps_for(G))
    for g, o in zip(G.numpy(), O.numpy()):
        if shape[0] >= shape[1]:
            expected, _ = scipy.linalg.polar(g, side="right")
        else:
            expected = scipy.linalg.polar(g.T, side="right")[0].T
        np.testing.assert_allclose(o, expected, atol=1e-13)
        small = o.T @ o if shape[0] >= shape[1] else o @ o.T
        assert np.abs(small - np.eye(min(shape))).max() < 1e-14


def test_svd_keeps_the_zero_part_of_a_rank_deficient_matrix():
    u, v = torch.randn(5, 1, dtype=torch.float64), torch.randn(3, 1, dtype=torch.float64)
    G = torch.stack([u @ v.T, torch.zeros(5, 3, dtype=torch.float64)])
    O = svd(G, eps_for(G))
    expected = (u / u.norm()) @ (v / v.norm()).T
    torch.testing.assert_close(O[0], expected, atol=1e-14, rtol=0)
    assert torch.equal(O[1], torch.zeros(5, 3, dtype=torch.float64))
    assert svd(G.to(torch.bfloat16), eps_for(G)).dtype == torch.bfloat16


def written_out(G, triples, safety=1.0):
    """X₀ = G/(s‖G‖_F) (transposed when tall), then X ← aX + b(XXᵀ)X + c(XXᵀ)²X per triple, numpy."""
    out = []
    for g in G.numpy():
        tall = g.shape[0] > g.shape[1]
        x = (g.T if tall else g) / (safety * np.linalg.norm(g))
        for a, b, c in triples:
            A = x @ x.T
            x = a * x + b * A @ x + c * A @ A @ x
        out.append(x.T if tall else x)
    return np.stack(out)


@pytest.mark.parametrize("shape", [(6, 3), (3, 6)])
def test_newton_schulz_matches_a_written_out_loop(shape):
    G = matrices(3, *shape)
    np.testing.assert_allclose(newton_schulz(G, NS, 5, eps_for(G)).numpy(), written_out(G, [NS] * 5), atol=1e-12)


@pytest.mark.parametrize("steps,safety", [(1, 1.0), (5, 1.01), (8, 1.05), (11, 1.01)])
def test_polar_express_matches_a_written_out_loop(steps, safety):
    G = matrices(3, 7, 4, seed=1)
    published = POLAR_EXPRESS_COEFFICIENTS
    # by hand: input scaled by 1/s, the first 7 triples evaluated at x/s, the 8th as is and repeated
    triples = [(a / safety, b / safety**3, c / safety**5) if t < 7 else published[7]
               for t, (a, b, c) in enumerate(published[min(t, 7)] for t in range(steps))]
    expected = written_out(G, triples, safety)
    np.testing.assert_allclose(polar_express(G, steps, eps_for(G), safety).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("name", list(ORTHOGONALIZERS))
def test_each_method_maps_each_singular_value_by_its_scalar_map(name):
    """For G = U diag(σ) Vᵀ (float64): σ(orthogonalize(G)) = the scalar map of σ/‖G‖_F, re-sorted,
    checked against numpy's SVD; one table serves the matrix and the scalar form."""
    G = matrices(3, 7, 4, seed=3)
    O = orthogonalize(G, eps_for(G), name, 6, safety=1.05)
    sigma = np.linalg.svd(G.numpy(), compute_uv=False) / np.linalg.norm(G.numpy(), axis=(1, 2))[:, None]
    expected = -np.sort(-singular_value_map(sigma, name, 6, safety=1.05), axis=1)
    np.testing.assert_allclose(np.linalg.svd(O.numpy(), compute_uv=False), expected, rtol=1e-10)


def test_the_table_is_muons_choice_and_an_unknown_name_is_one_line():
    assert muon.HPARAMS["orthogonalizer"].choices == tuple(ORTHOGONALIZERS) == ("newton_schulz", "polar_express", "svd")
    assert muon.HPARAMS["ns_coefficients"].default == NS
    G = matrices(1, 3, 3)
    with pytest.raises(UserError, match="orthogonalizer='qr' is not allowed; choose one of newton_schulz, "):
        orthogonalize(G, eps_for(G), "qr")


# ----- Polar Express: the published coefficients are the minimax polynomials of its bounds ---------
CUSHION = 0.02407327424182761  # Amsel et al. 2025, App. G: p_t is fitted on [max(ℓ_t, 0.024·u_t), u_t]


def odd_quintic(co, x):
    a, b, c = co
    return a * x + b * x**3 + c * x**5


def minimax_quintic(lo, hi):
    """The odd quintic minimising max |p − 1| on [lo, hi], by Remez exchange: p − 1 equioscillates,
    −E, +E, −E, +E, at lo < x₁ < x₂ < hi, where x₁, x₂ are the roots of p′(x) = a + 3bx² + 5cx⁴."""
    x1, x2 = lo + (hi - lo) / 4, lo + 3 * (hi - lo) / 4
    for _ in range(60):
        x = np.array([lo, x1, x2, hi])
        system = np.stack([x, x**3, x**5, np.array([1.0, -1.0, 1.0, -1.0])], axis=1)
        a, b, c, _ = np.linalg.solve(system, np.ones(4))
        root = np.sqrt(9 * b * b - 20 * a * c)
        x1, x2 = np.sort(np.sqrt((-3 * b + np.array([-root, root])) / (10 * c)))
    return np.array([a, b, c])


def test_polar_express_coefficients_are_the_minimax_polynomials_of_their_bounds():
    """From ℓ₁ = 10⁻³, u₁ = 1: p_t = the minimax quintic on [max(ℓ_t, cushion·u_t), u_t], rescaled so
    that p_t(ℓ_t) + p_t(u_t) = 2; then ℓ_{t+1} = p_t(ℓ_t), u_{t+1} = 2 − ℓ_{t+1} (App. G)."""
    lo, hi = POLAR_EXPRESS_LOWER_BOUND, 1.0
    for published in POLAR_EXPRESS_COEFFICIENTS[:-1]:
        co = minimax_quintic(max(lo, CUSHION * hi), hi)
        co *= 2 / (odd_quintic(co, lo) + odd_quintic(co, hi))
        np.testing.assert_allclose(co, published, rtol=1e-9)
        lo = odd_quintic(co, lo)
        hi = 2 - lo
    np.testing.assert_allclose(POLAR_EXPRESS_COEFFICIENTS[-1], np.array([15, -10, 3]) / 8, rtol=0)


def test_polar_express_keeps_every_singular_value_within_its_per_step_bounds():
    """Iterating the scalar polynomials on a dense grid of [ℓ₁, 1]: after step t every value lies in
    [ℓ_{t+1}, u_{t+1}] and both ends are reached, so the composition's worst-case error over
    [10⁻³, 1] is 1 − ℓ_{T+1}: 0.124 after 5 steps, 1.2e-3 after 6, 1e-9 after 7 (super-exponential)."""
    x = np.unique(np.concatenate([np.geomspace(1e-3, 1, 20001), np.linspace(1e-3, 1, 20001)]))
    lo, hi = 1e-3, 1.0
    errors = []
    for co in polar_express_schedule(8, safety=1.0):
        x, lo = odd_quintic(co, x), odd_quintic(co, lo)
        hi = 2 - lo
        assert x.min() >= lo - 1e-9 and x.max() <= hi + 1e-9  # the published digits round at ~1e-12
        assert x.min() == pytest.approx(lo, abs=1e-12) and x.max() == pytest.approx(hi, abs=1e-6)
        errors.append(np.abs(x - 1).max())
    np.testing.assert_allclose(errors[4:7], [0.1236, 1.185e-3, 1.04e-9], rtol=2e-3)
    assert errors[7] < 1e-15


def test_polar_express_with_its_safety_factor_converges_from_the_normalised_input():
    """With s = 1.01 (X₀ = G/(s‖G‖_F)) 8 steps bring every singular value of [10⁻³, 1]·‖G‖_F to
    within 10⁻⁵ of 1, as the paper says (the last, unscaled step undoes the factor's bias)."""
    x = np.geomspace(1e-3, 1, 5001) / 1.01
    for co in polar_express_schedule(8, safety=1.01):
        x = odd_quintic(co, x)
    assert np.abs(x - 1).max() < 1e-5


# ----- Muon -------------------------------------------------------------------------------------------
def hparams(**given):
    return hyperparameters(muon.MUON, [resolve("muon", muon.HPARAMS, given)], torch.float32, "cpu")


def test_muon_default_is_the_old_newton_schulz_path_bitwise():
    """θ·(1 − ηλ) − η·√max(1, A/B)·NS(U), the pre-`orthogonalizer` Muon, in float32."""
    gen = torch.Generator().manual_seed(5)
    p, g = torch.randn(2, 9, 4, generator=gen), torch.randn(2, 9, 4, generator=gen)
    hp = hparams(lr=0.02, nesterov=False)
    state = muon.init({"W": p}, hp)
    new, _, aux = muon.MUON.update({"W": g}, state, {"W": p}, hp, 1)
    buf = torch.zeros_like(p).lerp(g, 1 - hp["momentum"].reshape(-1, 1, 1))
    O = newton_schulz(buf, NS, 5, hp["eps"])
    expected = p * (1 - hp["lr"] * hp["weight_decay"]).reshape(-1, 1, 1) - (hp["lr"] * 1.5).reshape(-1, 1, 1) * O
    assert torch.equal(aux["direction"]["W"], O) and torch.equal(new["W"], expected)


@pytest.mark.parametrize("name", ["polar_express", "svd"])
def test_muon_uses_the_chosen_orthogonalizer(name):
    gen = torch.Generator().manual_seed(6)
    p, g = torch.randn(3, 5, 8, generator=gen), torch.randn(3, 5, 8, generator=gen)
    hp = hparams(orthogonalizer=name, ns_steps=6, pe_safety=1.05, nesterov=False, momentum=0.0)
    _, _, aux = muon.MUON.update({"W": g}, muon.init({"W": p}, hp), {"W": p}, hp, 1)
    U = g  # μ = 0: the buffer is the gradient
    expected = polar_express(U, 6, hp["eps"], 1.05) if name == "polar_express" else svd(U, hp["eps"])
    assert torch.equal(aux["direction"]["W"], expected)


def test_bad_orthogonalizer_options_are_one_line_errors():
    with pytest.raises(UserError, match="orthogonalizer='qr' is not allowed; choose one of newton_schulz, "
                                        "polar_express, svd"):
        RunConfig("linear_regression", "muon", hparams={"orthogonalizer": "qr"}).resolve()
    with pytest.raises(UserError, match=r"pe_safety=0.5 is out of range; allowed: 1 to 2"):
        RunConfig("linear_regression", "muon", hparams={"pe_safety": 0.5}).resolve()


def test_torch_optim_muon_class_takes_the_orthogonalizer():
    """`torch_api.Muon(..., orthogonalizer="svd")` steps a plain matrix by −η·√max(1, A/B)·UVᵀ of its
    momentum (first step, nesterov off, no decay: the momentum is (1 − μ)·G, same polar factor)."""
    gen = torch.Generator().manual_seed(7)
    w = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    start = w.detach().clone()
    w.grad = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    opt = torch_api.Muon([w], lr=0.1, weight_decay=0.0, nesterov=False, orthogonalizer="svd", ns_dtype="float64")
    opt.step()
    polar, _ = scipy.linalg.polar(w.grad.numpy(), side="right")
    np.testing.assert_allclose((start - w.detach()).numpy(), 0.1 * np.sqrt(2) * polar, atol=1e-13)
    with pytest.raises(UserError, match="orthogonalizer='exact'"):
        torch_api.Muon([w], orthogonalizer="exact")


def test_engine_runs_each_orthogonalizer_and_svd_lowers_polar_error():
    problem = {"d": 6, "D": 3, "batch_size": 8, "condition_number": 10.0}
    results = {}
    for name in ("newton_schulz", "polar_express", "svd"):
        c = RunConfig("linear_regression", "muon", problem, hparams={"lr": 0.02, "orthogonalizer": name, "ns_dtype": "float64"},
                      steps=10, probes=("orthogonality",), probe_every=5, dtype="float64").resolve()
        table = engine.run_batch([c]).tables["orthogonality"]
        results[name] = table[table.quantity == "polar_error"]["value"].max()
    assert results["svd"] < 1e-12 < results["polar_express"] < results["newton_schulz"]


def test_orthogonality_probe_matches_the_scalar_polynomial_on_each_singular_value():
    """For O = NS(U) = U_r p(Σ/‖U‖_F) V_rᵀ: output σ = p(input σ) re-sorted, and the polar error is
    √(Σ_i (p(σ_i/‖U‖_F) − 1)² / r); checked against numpy's SVD and the scalar quintic."""
    from toylab.probes import Context, orthogonality

    U = matrices(3, 7, 4, seed=8)
    O = newton_schulz(U, NS, 5, eps_for(U))
    hp = {"momentum": torch.full((3,), 0.9, dtype=U.dtype), "nesterov": torch.zeros(3, dtype=U.dtype),
          "momentum_form": "ema"}  # nesterov off: U is the momentum buffer
    ctx = Context(None, "muon", 1, {"W": U}, {"W": U}, {"W": 2 * U}, {}, {"momentum_buffer": {"W": U}},
                  {"direction": {"W": O}}, hp, [], [])
    out = orthogonality.measure(ctx)
    sigma = np.linalg.svd(U.numpy(), compute_uv=False) / np.linalg.norm(U.numpy(), axis=(1, 2))[:, None]
    mapped = sigma.copy()
    for _ in range(5):
        mapped = odd_quintic(NS, mapped)
    np.testing.assert_allclose(out[("input_spectrum", "W")].numpy(), sigma, rtol=1e-12)
    np.testing.assert_allclose(out[("output_spectrum", "W")].numpy(), -np.sort(-mapped, axis=1), rtol=1e-10)
    np.testing.assert_allclose(out[("polar_error", "W")].numpy(), np.sqrt(((mapped - 1) ** 2).mean(1)), rtol=1e-10)
    assert orthogonality.measure(Context(None, "adamw", 1, {"W": U}, {"W": U}, {"W": U}, {}, {},
                                         {"direction": {"W": O}}, {}, [], [])) == {}
    nesterov = orthogonality.orthogonalizer_input(ctx.__class__(**{**ctx.__dict__, "hp": {**hp, "nesterov": hp["nesterov"] + 1}}), "W")
    torch.testing.assert_close(nesterov, 0.1 * 2 * U + 0.9 * U, rtol=1e-15, atol=0)


def test_bench_table_puts_each_orthogonalizers_error_next_to_its_time():
    from toylab.bench import orthogonalizers

    rows = {(r["orthogonalizer"], r["steps"]): r for r in orthogonalizers.table([(4, 9, 3)], torch.device("cpu"), 1)}
    assert set(rows) == {(name, steps or "-") for name, steps in orthogonalizers.METHODS}
    assert rows[("newton_schulz", 5)]["× NS-5"] == 1.0 and all(r["ms"] > 0 for r in rows.values())
    # float32 rounding amplified by the spread 1e3 of the singular values: ~1e-5 for the exact methods
    assert max(rows[("svd", "-")]["polar error"], rows[("polar_express", 8)]["polar error"]) < 1e-4
    assert 0.1 < rows[("polar_express", 5)]["polar error"] < rows[("newton_schulz", 5)]["polar error"]
