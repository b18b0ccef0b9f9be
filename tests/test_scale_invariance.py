"""docs/claims.md C10 (004 Theorem 1) through the engine, in float64: on a scale-invariant loss the
run with (η/c, cλ, σ_init/c, cε) is the run with (η, λ, σ_init, ε) divided by c at every step."""
import numpy as np
import pytest

from toylab import engine, theory
from toylab.config import RunConfig

LR, WD, INIT, EPS = 0.02, 0.5, 1.0, 1e-6


def trajectories(problem, options, norm_metric, c, steps=60):
    """‖w_t‖ for t = 0…steps and the final w of the base run and of the c-rescaled run."""
    out = []
    for scale in (1.0, c):
        hp = theory.rescaled_config(LR, WD, INIT, EPS, scale)
        config = RunConfig(problem, "adamw", {**options, "init_std": hp.pop("init_std")},
                           {**hp, "betas": (0.9, 0.99)}, steps=steps, metric_every=1, dtype="float64")
        result = engine.run_batch([config.resolve()])
        norms = result.metrics.query("metric == @norm_metric").sort_values("step")["value"].to_numpy()
        out.append((norms, result.params["W"].numpy()))
    return out


def relative_error(problem, options, norm_metric, c):
    (n, w), (n_c, w_c) = trajectories(problem, options, norm_metric, c)
    return max(np.abs(n_c - n / c).max() / (n / c).min(), np.linalg.norm(w_c - w / c) / np.linalg.norm(w / c))


@pytest.mark.parametrize("c", [3.0, 0.1, 1000.0])
@pytest.mark.parametrize("norm", ["row", "matrix", "layernorm"])
def test_rescaled_adamw_run_is_the_run_divided_by_c(norm, c):
    assert relative_error("scale_invariant", {"norm": norm, "d_in": 8, "d_out": 4}, "norm_W", c) < 1e-10


def test_theorem_fails_without_scale_invariance():
    """Linear regression's gradient does not scale as 1/(weight scale): the rescaled run differs."""
    options = {"d": 8, "D": 2}
    for c in (3.0, 0.1):
        assert relative_error("linear_regression", options, "dist_to_opt", c) > 1e-2
