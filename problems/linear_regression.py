"""Multi-output linear regression (docs/claims.md C13).

X = [1 | Z] with Z ~ N(0, Σ) ∈ ℝ^{B×d}, W* ∈ ℝ^{(d+1)×D} ~ w_star_std·N(0, 1),
Y = X W* + e·N(0, 1), and the loss L(W) = ‖Y − XW‖²_F (`reduction=sum`, as in the notepad) or
‖Y − XW‖²_F / B (`mean`), whose gradient is G = 2 Xᵀ(XW − Y) (÷ B for `mean`).

Σ = Q diag(λ) Qᵀ has eigenvalues λ_i geometric from 1 down to 1/κ (`condition_number` κ), or
λ_i = exp(−i / r) for a low effective rank r (`effective_rank`); Q is a random rotation unless
`rotate=false` (then Adam's diagonal preconditioner sees the axes of Σ).

Data are streaming (fresh samples every step; the optimum is W*) or a finite set of
`n_train` points visited in shuffled epochs of ⌊N/B⌋ batches (the optimum is the least-squares
solution); `batch_size=0` is full batch. Metrics are per-example mean squared errors:
`loss` (population or full-dataset), `excess_loss` over the optimum, and `dist_to_opt` ‖W − W_opt‖_F;
with finite data also `test_loss`, the population loss (generalisation).
"""
from __future__ import annotations

import torch

from toylab.batched import bmm, group_mm, shared
from toylab.options import UserError, nonneg, positive
from toylab.problems import Problem, buffer, option, register


@register
class LinearRegression(Problem):
    name = "linear_regression"
    description = "Multi-output least squares, X=[1|Z], ill-conditioned or low-rank inputs, streaming or finite data"

    d: int = option(16, "input dimension (a bias column of ones is added)", **positive())
    D: int = option(4, "output dimension", **positive())
    noise: float = option(0.1, "label noise std e", **nonneg())
    batch_size: int = option(32, "examples per step; 0 = full batch (needs n_train > 0)", **nonneg())
    n_train: int = option(0, "finite dataset size N; 0 = streaming (fresh samples each step)", **nonneg())
    condition_number: float = option(1.0, "condition number κ of the input covariance", check=lambda x: x >= 1, allowed=">= 1")
    effective_rank: float = option(0.0, "effective rank r: eigenvalues exp(-i/r); 0 = off (use condition_number)", **nonneg())
    rotate: bool = option(True, "rotate the covariance eigenbasis randomly (false: axis-aligned)")
    reduction: str = option("sum", "loss over the batch: sum (as in the notepad) or mean", choices=("sum", "mean"))
    w_star_std: float = option(1.0, "std of the teacher weights W*", **nonneg())
    init_std: float = option(0.0, "std of the initial weights W_0 (0 = zero init)", **nonneg())

    def validate(self):
        if self.batch_size == 0 and self.n_train == 0:
            raise UserError("batch_size=0 (full batch) needs a finite dataset: set n_train > 0")
        if self.n_train and self.batch_size > self.n_train:
            raise UserError(f"batch_size={self.batch_size} exceeds n_train={self.n_train}")
        if self.effective_rank and self.condition_number != 1.0:
            raise UserError("set either condition_number or effective_rank, not both")

    def iters_per_epoch(self):
        """⌊N/B⌋ batches per shuffled epoch, 1 for full batch, None when streaming."""
        if not self.n_train:
            return None
        return 1 if self.batch_size == 0 else self.n_train // self.batch_size

    # ----- shapes, init and data -------------------------------------------------------------
    def param_shapes(self):
        return {"W": (self.d + 1, self.D)}

    def init_params(self, gen):
        return {"W": self.init_std * self.randn(gen, self.d + 1, self.D)}

    def eigenvalues(self) -> torch.Tensor:
        """λ_i of Σ, i = 0..d-1, largest first."""
        i = torch.arange(self.d, dtype=torch.float64)
        if self.effective_rank:
            lam = torch.exp(-i / self.effective_rank)
        else:
            lam = self.condition_number ** (-i / max(self.d - 1, 1))
        return lam.to(self.dtype)

    def make_data(self, gen):
        lam = self.eigenvalues().to(self.device)
        if self.rotate:
            q, r = torch.linalg.qr(self.randn(gen, self.d, self.d))
            q = q * torch.sign(torch.diagonal(r))  # Haar-distributed rotation
        else:
            q = torch.eye(self.d, dtype=self.dtype, device=self.device)
        data = {
            "cov_sqrt": (q * lam.sqrt()) @ q.T,  # Σ^{1/2}, symmetric
            "second_moment": torch.block_diag(torch.ones(1, dtype=self.dtype, device=self.device), (q * lam) @ q.T),
            "w_star": self.w_star_std * self.randn(gen, self.d + 1, self.D),
        }
        if not self.n_train:
            data["w_opt"] = data["w_star"]
            data["loss_opt"] = torch.tensor(self.D * self.noise**2, dtype=self.dtype, device=self.device)
            return data
        x, y = self._draw(data, gen, self.n_train)
        data.update(x=x, y=y, gram=x.T @ x / self.n_train, cross=x.T @ y / self.n_train, yy=(y * y).sum() / self.n_train)
        data["population_second_moment"], data["second_moment"] = data["second_moment"], data["gram"]
        # on the CPU with gelsd (SVD): the CPU default, gelsy, gives other last bits from call to
        # call (measured), and CUDA has neither
        w_opt = torch.linalg.lstsq(x.double().cpu(), y.double().cpu(), driver="gelsd").solution
        data["w_opt"] = w_opt.to(dtype=self.dtype, device=self.device)
        data["loss_opt"] = self._dataset_loss(data["w_opt"], data)
        return data

    def _draw(self, data, gen, n):
        z = self.randn(gen, n, self.d) @ data["cov_sqrt"]
        x = torch.cat([torch.ones(n, 1, dtype=self.dtype, device=self.device), z], dim=1)
        return x, x @ data["w_star"] + self.noise * self.randn(gen, n, self.D)

    def sample_many(self, data, gen, steps):
        """Streaming: the batches of `steps` as `[C, B, ...]`, the same numbers as `sample` step by
        step: the same draws in the same order and the same per-step products (a batched product,
        or one written into a misaligned slice, can round differently) copied into place."""
        if self.n_train:
            return super().sample_many(data, gen, steps)
        C, B, kw = len(steps), self.batch_size, dict(dtype=self.dtype, device=self.device)
        x, y = torch.ones(C, B, self.d + 1, **kw), torch.empty(C, B, self.D, **kw)
        z, e = torch.empty(B, self.d, **kw), torch.empty(C, B, self.D, **kw)
        for i in range(C):
            torch.randn(B, self.d, generator=gen, out=z)
            x[i, :, 1:] = z @ data["cov_sqrt"]
            torch.randn(B, self.D, generator=gen, out=e[i])
            y[i] = x[i] @ data["w_star"]
        return {"x": x, "y": y.add_(e.mul_(self.noise))}

    def sample(self, data, gen, step):
        """Streaming: a fresh batch. Finite: the next batch of the current shuffled epoch."""
        if not self.n_train:
            x, y = self._draw(data, gen, self.batch_size)
            return {"x": x, "y": y}
        if self.batch_size == 0:
            return {"x": data["x"], "y": data["y"]}
        per_epoch = self.n_train // self.batch_size
        j = (step - 1) % per_epoch
        if j == 0:  # a new epoch: a new permutation from this seed's stream
            data["perm"] = torch.randperm(self.n_train, generator=gen, device=self.device)
        idx = data["perm"][j * self.batch_size:(j + 1) * self.batch_size]
        return {"x": data["x"][idx], "y": data["y"][idx]}

    # ----- loss, gradient, metrics -----------------------------------------------------------
    def _scale(self, batch_rows: int) -> float:
        return 1.0 if self.reduction == "sum" else 1.0 / batch_rows

    def loss(self, params, batch):
        r = batch["x"] @ params["W"] - batch["y"]
        return (r * r).sum() * self._scale(r.shape[-2])

    def loss_and_grad(self, params, batch):
        """Batched closed form over K (`batch`: `[K, B, ...]`): L = s‖XW − Y‖², G = 2s Xᵀ(XW − Y)."""
        x, w = batch["x"], params["W"]
        residual, grad = self._outputs(w, x.shape[-2], {})
        self._products(w.mT, x, x * (2 * self._scale(x.shape[-2])), batch["y"].mT, residual, grad)
        return self._loss(residual), {"W": grad.mT}

    def param_layout(self):
        """W is kept as Wᵀ in memory, so that the products below read and write the configs'
        weights and gradients in place."""
        return {"W": (1, 0)}

    def loss_and_grad_per_seed(self, params, batch, sizes, work: dict | None = None):
        """The same closed form when the K configs come in contiguous groups of `sizes[s]`,
        group s sharing batch s (`batch`: `[S, B, ...]`): each group's two products take the
        batch once (`batched.group_mm`: one GEMM over the group's rows Wᵀ where that rounds each
        config as its own product does, else a bmm with the batch a stride-0 operand), into
        buffers kept in `work`. Each config's numbers are those of `loss_and_grad`, bit for bit,
        whatever the groups."""
        x, y, w = batch["x"], batch["y"], params["W"]
        residual, grad = self._outputs(w, x.shape[1], {} if work is None else work)
        x_scaled, y_t = x * (2 * self._scale(x.shape[1])), y.mT.contiguous()  # Yᵀ contiguous: a faster subtraction
        for seeds, rows, n in _groups(sizes):
            S, w_t = len(x[seeds]), w[rows].mT
            r = group_mm(w_t.view(S, n, *w_t.shape[1:]), x[seeds].mT, out=residual[rows].view(S, n, *residual.shape[1:]))
            r.sub_(y_t[seeds, None])
            group_mm(r, x_scaled[seeds], out=grad[rows].view(S, n, *grad.shape[1:]))
        return self._loss(residual), {"W": grad.mT}

    def _outputs(self, w, B, work):
        """Rᵀ `[K, D, B]` and Gᵀ `[K, D, d+1]`, kept in `work` (valid until the next call)."""
        return buffer(work, "residual", (len(w), self.D, B), w), buffer(work, "grad", (len(w), self.D, self.d + 1), w)

    @staticmethod
    def _products(w_t, x, x_scaled, y_t, residual, grad):
        """Per config, each a bmm over the configs (`toylab.batched`): Rᵀ = WᵀXᵀ − Yᵀ and
        Gᵀ = Rᵀ(2s·X), into `residual` and `grad`."""
        bmm(w_t, x.mT, out=residual).sub_(y_t)
        bmm(residual, x_scaled, out=grad)

    def _loss(self, residual):
        """L = s‖R‖²_F per config from Rᵀ `[K, D, B]`, a product too (no squared copy)."""
        rows = residual.view(len(residual), 1, -1)
        return bmm(rows, rows.mT).view(-1).mul_(self._scale(residual.shape[-1]))

    def _residual(self, w, batch):
        """R = XW − Y per config, `[K, B, D]`, as the run computes it (Rᵀ = WᵀXᵀ − Yᵀ); a batch
        with a config axis of 1 is shared by all K configs."""
        K = len(w)
        x, y = batch["x"].expand(K, -1, -1), batch["y"].expand(K, -1, -1)
        return (bmm(w.mT, x.mT) - y.mT).mT

    def per_example_grads(self, params, batch):
        """∇ of one example's squared error ‖xᵀW − y‖² times the reduction's scale: 2s·x rᵀ, [K, B, d+1, D]."""
        r = self._residual(params["W"], batch)
        x = batch["x"].expand(len(r), -1, -1)
        return {"W": (2 * self._scale(r.shape[-2])) * x.unsqueeze(-1) * r.unsqueeze(-2)}

    def per_example_grad_moments(self, params, batch):
        """(Σ_b g_b, Σ_b g_b²) summed in float64 without forming g_b: Σ_b g_b² = 4s²·(x∘x)ᵀ(r∘r).
        The batch may have a config axis of 1, shared by all K configs."""
        r = self._residual(params["W"], batch).double()
        x = batch["x"].double()
        x_sq = x * x
        if len(x) == 1:
            x, x_sq = shared(x[0], len(r)), shared(x_sq[0], len(r))
        s = self._scale(r.shape[-2])
        return {"W": ((2 * s) * bmm(x.mT, r), (4 * s * s) * bmm(x_sq.mT, r * r))}

    def population_gradient_moments(self, params, data):
        """Mean μ and per-coordinate variance σ² of one example's term g = 2s·x(xᵀW − y)ᵀ, [K, d+1, D].

        Streaming: x = [1, z], z ~ N(0, Σ), y = W*ᵀx + e·ξ, r = Δᵀx − eξ with Δ = W − W*. With
        M = E[xxᵀ] = diag(1, Σ) and C = Cov(x) = diag(0, Σ), Isserlis' theorem gives
        E[x_i²(aᵀx)²] = M_ii·aᵀMa + 2(Ca)_i², so

            μ = 2s·MΔ,    σ²_ij = 4s²·[M_ii(Δ_jᵀMΔ_j + e²) + 2(CΔ)_ij² − (MΔ)_ij²],

        which, as (MΔ)_ij = (CΔ)_ij for i ≥ 1 and Δ_0j for i = 0, is evaluated without cancellation.

        Finite data: the mean and variance over the N training examples (batches are drawn
        without replacement, which this ignores). s is the scale of a batch of `batch_size`.
        """
        s = self._scale(self.batch_size or self.n_train)
        w = params["W"]
        if self.n_train:
            x, y = data["x"].double(), data["y"].double()
            K = len(w)
            r = bmm(shared(x, K), w.double()) - y  # [K, N, D]
            g_mean = (2 * s) * bmm(shared(x.T, K), r) / self.n_train
            g_sq = (4 * s * s) * bmm(shared((x * x).T, K), r * r) / self.n_train
            return {"W": (g_mean.to(w.dtype), (g_sq - g_mean**2).clamp_min(0).to(w.dtype))}
        M = data["second_moment"]
        delta = w - data["w_star"]
        m_delta = bmm(shared(M, len(delta)), delta)
        c_delta = torch.cat([torch.zeros_like(m_delta[..., :1, :]), m_delta[..., 1:, :]], dim=-2)  # CΔ
        q_c = (delta * c_delta).sum(-2, keepdim=True) + self.noise**2  # Δ_jᵀCΔ_j + e², [K, 1, D]
        # σ²: the row i = 0 is 4s²(q_c), the others 4s²[M_ii(q_c + Δ_0j²) + (CΔ)_ij²]: no cancellation
        var = M.diagonal()[:, None] * (q_c + delta[..., :1, :] ** 2) + c_delta**2
        var = torch.cat([q_c, var[..., 1:, :]], dim=-2)
        return {"W": ((2 * s) * m_delta, (4 * s * s) * var)}

    def _dataset_loss(self, w, data):
        """Mean over the N examples: tr(WᵀAW) − 2 tr(WᵀC) + tr(YᵀY)/N, A = XᵀX/N, C = XᵀY/N."""
        return ((w * (data["gram"] @ w)).sum((-2, -1)) - 2 * (w * data["cross"]).sum((-2, -1)) + data["yy"])

    def metrics(self, params, data):
        """Per-example excess loss tr((W−W_opt)ᵀ M (W−W_opt)), M = E[x xᵀ] (or XᵀX/N); `test_loss`
        for finite data."""
        delta = params["W"] - data["w_opt"]  # laid out as W: Δᵀ is contiguous
        excess = _quadratic(delta, data["second_moment"])
        out = {"loss": excess + data["loss_opt"], "excess_loss": excess,
               "dist_to_opt": torch.linalg.vector_norm(delta, dim=(-2, -1))}
        if self.n_train:  # generalisation: the population loss tr(ΔᵀE[xxᵀ]Δ) + D e², Δ = W − W*
            delta = params["W"] - data["w_star"]
            out["test_loss"] = _quadratic(delta, data["population_second_moment"]) + self.D * self.noise**2
        return out

    def optimum(self, data):
        return {"W": data["w_opt"]}


def _groups(sizes: list[int]) -> list[tuple[slice, slice, int]]:
    """(seeds, their configs' rows, configs per seed) covering the seeds: one span of all seeds
    when every seed has the same number of configs, else one per seed."""
    if len(set(sizes)) == 1:
        return [(slice(None), slice(None), sizes[0])]
    ends = [sum(sizes[:s + 1]) for s in range(len(sizes))]
    return [(slice(s, s + 1), slice(end - n, end), n) for s, (n, end) in enumerate(zip(sizes, ends))]


def _quadratic(delta: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """tr(Δ_kᵀ M Δ_k) per config, `delta`: [K, d+1, D], M symmetric: Δ_kᵀM for the K configs that
    share M (`batched.group_mm`: one GEMM where it gives each config the bits of its own product,
    else a bmm of each config's own), then a row-wise dot with Δ_kᵀ."""
    rows = delta.mT.contiguous()  # a view when Δ is laid out as W
    K, D, n = rows.shape
    products = group_mm(rows.view(1, K, D, n), M[None], out=torch.empty(1, K, D, n, dtype=rows.dtype, device=rows.device))
    return torch.linalg.vecdot(products.view(K, -1), rows.view(K, -1))
