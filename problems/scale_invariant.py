"""Scale-invariant teacher–student regression: losses that see only the direction of weights.

The setting of docs/claims.md C5–C8 and C10. A weight matrix W enters only through a normalisation,
so L(cW) = L(W) for every c > 0 and hence ⟨∇_W L, W⟩ = 0 (002 §3). Three normalisations
(`norm`), for x ∈ ℝ^{d_in} and W ∈ ℝ^{d_out×d_in}:

    row        N(W, x) = diag(1/‖W_i‖) W x            each output row on the unit sphere
    matrix     N(W, x) = √d_out · W x / ‖W‖_F         the whole matrix on a sphere
    layernorm  N(W, x) = (z − mean z)/std z, z = W x  a LayerNorm without gain, over outputs

A teacher of the same architecture (weights drawn once per seed) labels fresh inputs
x ~ N(0, I) each step, y = teacher(x) + noise·N(0, I); the loss is ½·mean over batch and
outputs of (student(x) − y)². Every layer starts at init_std·N(0, 1/fan_in).
"""
from __future__ import annotations

import torch
from torch import Tensor

from toylab import batched
from toylab.batched import shared
from toylab.options import UserError, nonneg, positive
from toylab.problems import Problem, option, register

NORMS = ("row", "matrix", "layernorm")


def normalized_map(W: Tensor, x: Tensor, norm: str) -> Tensor:
    """N(W, x) for inputs x `[B, d_in]` and W `[d_out, d_in]`, invariant to the scale of W: `[B, d_out]`."""
    if norm == "row":
        return x @ (W / W.norm(dim=-1, keepdim=True)).T
    if norm == "matrix":
        return x @ (W * (W.shape[0] ** 0.5 / W.norm())).T
    z = x @ W.T
    z = z - z.mean(-1, keepdim=True)
    return z / z.pow(2).mean(-1, keepdim=True).sqrt()


class TeacherStudent(Problem):
    """Shared sampling, loss and metrics; a subclass defines `param_shapes` and `forward`."""

    def forward(self, params, x: Tensor) -> Tensor:
        raise NotImplementedError

    def init_params(self, gen):
        return {k: self.init_std * self.randn(gen, *s) / s[-1] ** 0.5 for k, s in self.param_shapes().items()}

    def make_data(self, gen):
        """The teacher's weights (`teacher_<name>`, same law as the student's at init_std = 1) and a
        fixed noise-free evaluation set (`x_eval`, `y_eval`)."""
        teacher = {k: self.randn(gen, *s) / s[-1] ** 0.5 for k, s in self.param_shapes().items()}
        x_eval = self.randn(gen, self.eval_size, self.d_in)
        data = {f"teacher_{k}": v for k, v in teacher.items()}
        return data | {"x_eval": x_eval, "y_eval": self.forward(teacher, x_eval)}

    def teacher(self, data):
        return {k: data[f"teacher_{k}"] for k in self.param_shapes()}

    def sample(self, data, gen, step):
        x = self.randn(gen, self.batch_size, self.d_in)
        y = self.forward(self.teacher(data), x)
        return {"x": x, "y": y + self.noise * self.randn(gen, *y.shape)}

    def loss(self, params, batch):
        return 0.5 * (self.forward(params, batch["x"]) - batch["y"]).pow(2).mean()

    def metrics(self, params, data):
        """`loss`: the loss against the noise-free teacher on the evaluation set (the expected
        training loss is this plus noise²/2); `norm_<name>`: ‖param‖ (Frobenius). All `[K]`."""
        K = len(next(iter(params.values())))
        eval_batch = {"x": shared(data["x_eval"], K), "y": shared(data["y_eval"], K)}  # a bmm per config
        out = {"loss": batched.vmap(self.loss)(params, eval_batch)}
        return out | {f"norm_{k}": v.flatten(1).norm(dim=1) for k, v in params.items()}

    def validate(self):
        if self.norm == "layernorm" and min(s[0] for s in self._normalized_shapes()) < 2:
            raise UserError("norm=layernorm needs at least 2 outputs per normalized layer")

    def _normalized_shapes(self):
        return [s for k, s in self.param_shapes().items() if k in self.normalized_params()]


_norm = dict(choices=NORMS)


@register
class ScaleInvariant(TeacherStudent):
    name = "scale_invariant"
    description = "teacher-student y = N(W x): one weight matrix seen only through a normalisation (C5-C8, C10)"

    d_in: int = option(32, "input dimension", **positive())
    d_out: int = option(16, "output dimension", **positive())
    norm: str = option("row", "normalisation of W: per output row, whole matrix, or LayerNorm of W x", **_norm)
    batch_size: int = option(32, "examples per step", **positive())
    noise: float = option(0.1, "std of the label noise", **nonneg())
    init_std: float = option(1.0, "W_0 ~ init_std * N(0, 1/d_in)", **nonneg())
    eval_size: int = option(4096, "examples in the fixed evaluation set", **positive())

    def param_shapes(self):
        return {"W": (self.d_out, self.d_in)}

    def normalized_params(self):
        return {"W"}

    def forward(self, params, x):
        return normalized_map(params["W"], x, self.norm)

    def metrics(self, params, data):
        """Adds `teacher_cos`: the cosine between student and teacher in the geometry the
        normalisation sees (mean over rows for `row`, Frobenius for `matrix`, Frobenius of the
        output-centred matrices for `layernorm`)."""
        W, W_star = params["W"], data["teacher_W"]
        if self.norm == "layernorm":
            W, W_star = W - W.mean(-2, keepdim=True), W_star - W_star.mean(-2, keepdim=True)
        if self.norm == "row":
            cos = torch.nn.functional.cosine_similarity(W, W_star.expand_as(W), dim=-1).mean(-1)
        else:
            cos = torch.nn.functional.cosine_similarity(W.flatten(1), W_star.flatten().expand(W.shape[0], -1), dim=-1)
        return super().metrics(params, data) | {"teacher_cos": cos}


@register
class ScaleInvariantMLP(TeacherStudent):
    name = "scale_invariant_mlp"
    description = ("teacher-student MLP: `depth` normalized layers W1..Wdepth with tanh, then an unnormalized "
                   "output layer V (layer balancing C5, corrected decay on normalized layers only C8)")

    d_in: int = option(32, "input dimension", **positive())
    width: int = option(32, "hidden width", **positive())
    depth: int = option(2, "number of normalized layers", **positive())
    d_out: int = option(8, "output dimension", **positive())
    norm: str = option("row", "normalisation of each W_l: per output row, whole matrix, or LayerNorm", **_norm)
    batch_size: int = option(32, "examples per step", **positive())
    noise: float = option(0.1, "std of the label noise", **nonneg())
    init_std: float = option(1.0, "every layer starts at init_std * N(0, 1/fan_in)", **nonneg())
    eval_size: int = option(4096, "examples in the fixed evaluation set", **positive())

    def param_shapes(self):
        shapes = {f"W{l}": (self.width, self.d_in if l == 1 else self.width) for l in range(1, self.depth + 1)}
        return shapes | {"V": (self.d_out, self.width)}

    def normalized_params(self):
        return {f"W{l}" for l in range(1, self.depth + 1)}

    def forward(self, params, x):
        """y = V tanh(N(W_depth, … tanh(N(W1, x)))): scale-invariant in each W_l, not in V."""
        h = x
        for l in range(1, self.depth + 1):
            h = torch.tanh(normalized_map(params[f"W{l}"], h, self.norm))
        return h @ params["V"].T
