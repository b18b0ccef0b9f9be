"""Pure gradient noise: the setting of docs/claims.md C1-C3 (000's own simulation).

One parameter vector θ ∈ ℝ^N and no loss landscape: each step's gradient is g ~ N(μ, σ²) i.i.d.
per coordinate, independent of θ. It is written as the linear loss L(θ) = ⟨θ, g⟩, whose
gradient is exactly g, so the generic autograd route and the fast path agree.
"""
from __future__ import annotations

from toylab.options import nonneg, positive
from toylab.problems import Problem, option, register


@register
class Noise(Problem):
    name = "noise"
    description = "gradients drawn i.i.d. N(mu, sigma^2) per coordinate, no loss landscape (C1-C3)"
    nonnegative_loss = False  # ⟨θ, g⟩ has either sign: no blow-up threshold

    n: int = option(10000, "number of coordinates N", **positive())
    mu: float = option(0.0, "gradient mean per coordinate")
    sigma: float = option(1.0, "gradient standard deviation per coordinate", **nonneg())
    init_std: float = option(0.1, "theta_0 ~ init_std * N(0, 1)", **nonneg())

    def param_shapes(self):
        return {"theta": (self.n,)}

    def init_params(self, gen):
        return {"theta": self.init_std * self.randn(gen, self.n)}

    def sample(self, data, gen, step):
        return {"g": self.mu + self.sigma * self.randn(gen, self.n)}

    def loss(self, params, batch):
        """L(θ) = ⟨θ, g⟩, so ∇L = g."""
        return (params["theta"] * batch["g"]).sum(-1)

    def loss_and_grad(self, params, batch):
        """Batched over a leading K axis of θ (`[K, N]`); g is `[K, N]` or a shared `[N]`."""
        theta = params["theta"]
        return self.loss(params, batch), {"theta": batch["g"].expand_as(theta).clone()}

    @property
    def snr(self) -> float:
        """ρ = ‖μ‖²/‖σ‖² = μ²/σ² of docs/claims.md C2 (every coordinate has the same μ, σ)."""
        return self.mu**2 / self.sigma**2 if self.sigma > 0 else float("inf")

    def metrics(self, params, data):
        """RMS(θ) = ‖θ‖/√N and ‖θ‖, each `[K]`."""
        norm = params["theta"].norm(dim=-1)
        return {"weight_rms": norm / self.n**0.5, "weight_norm": norm}
