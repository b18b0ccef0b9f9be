"""Pure gradient noise on one matrix: the setting of docs/claims.md C16 (equilibrium spectra).

One parameter W ∈ ℝ^{m×n} and no loss landscape: each step's gradient is G ~ N(0, σ²) i.i.d.
per entry, independent of W, so every optimizer's update is noise-dominated and the
equilibrium weights are the decayed sum of its updates. Written, as `noise` is, as the linear
loss L(W) = ⟨W, G⟩ (gradient exactly G), so the autograd route and the fast path agree.
"""
from __future__ import annotations

from toylab.options import nonneg, positive
from toylab.problems import Problem, option, register


@register
class MatrixNoise(Problem):
    name = "matrix_noise"
    description = "one m x n matrix W, gradients drawn i.i.d. N(0, sigma^2) per entry, no loss landscape (C16)"
    nonnegative_loss = False  # ⟨W, G⟩ has either sign: no blow-up threshold

    m: int = option(64, "rows of W", **positive())
    n: int = option(64, "columns of W", **positive())
    sigma: float = option(1.0, "gradient standard deviation per entry", **nonneg())
    init_std: float = option(0.0, "W_0 ~ init_std * N(0, 1) per entry (0: zero init)", **nonneg())

    def param_shapes(self):
        return {"W": (self.m, self.n)}

    def init_params(self, gen):
        return {"W": self.init_std * self.randn(gen, self.m, self.n)}

    def sample(self, data, gen, step):
        return {"G": self.sigma * self.randn(gen, self.m, self.n)}

    def loss(self, params, batch):
        """L(W) = ⟨W, G⟩, so ∇L = G."""
        return (params["W"] * batch["G"]).sum((-2, -1))

    def loss_and_grad(self, params, batch):
        """Batched over a leading K axis of W (`[K, m, n]`); G is `[K, m, n]` or a shared `[m, n]`."""
        W = params["W"]
        return self.loss(params, batch), {"W": batch["G"].expand_as(W).clone()}

    def metrics(self, params, data):
        """RMS(W) = ‖W‖_F/√(mn), `[K]`."""
        return {"weight_rms": params["W"].flatten(1).norm(dim=-1) / (self.m * self.n) ** 0.5}
