"""Real data beside the toys: scikit-learn's bundled datasets (no download), as finite-data problems.

    digits_softmax   softmax regression on `load_digits` (8×8 images, 10 classes, 1797 examples):
                     X = [1 | Z], W ∈ ℝ^{65×10}, L(W) = mean_b CE(softmax(x_bᵀW), y_b),
                     G = Xᵀ(softmax(XW) − Y)/B  (Y one-hot)
    digits_mlp       the same data through x ↦ W2 tanh(W1 x + b1) + b2, W1 ∈ ℝ^{h×64}, W2 ∈ ℝ^{10×h}:
                     Muon orthogonalises both matrices, the biases take its AdamW step
    diabetes         linear regression on `load_diabetes` (10 features, 442 patients):
                     X = [1 | Z], w ∈ ℝ^{11×1}, L(w) = mean_b (x_bᵀw − y_b)² + l2·‖w_{1:}‖²,
                     G = 2Xᵀ(Xw − y)/B + 2·l2·(0, w_{1:})

Each seed splits the examples at random into a training set and a held-out `test_fraction`,
standardises features (and the diabetes target) with scikit-learn's `StandardScaler` fitted on
the training set, and visits the training set in shuffled epochs of ⌊N/B⌋ batches
(`batch_size=0`: full batch). Metrics: `loss` (the objective on the whole training set),
`test_loss` (held out, without the penalty), `test_error` (misclassified share, digits) and, for
the linear models, `excess_loss` over the training set's optimum (diabetes: in closed form, the
ridge normal equations; digits_softmax: the convex optimum is not closed-form, so none).
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import ClassVar

import numpy as np
import torch

from toylab import batched
from toylab.batched import bmm, shared
from toylab.options import UserError, nonneg, positive
from toylab.problems import Problem, option, register


# scikit-learn is imported where it is used: it takes seconds to import, and every toylab command
# discovers this file.
@lru_cache(maxsize=None)
def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, targets) of a bundled dataset, read once per process."""
    from sklearn import datasets

    bunch = {"digits": datasets.load_digits, "diabetes": datasets.load_diabetes}[name]()
    return bunch.data.astype(np.float64), bunch.target


def standard_scaler(fit_on: np.ndarray):
    """scikit-learn's `StandardScaler` fitted on `fit_on` (mean 0, variance 1 per column)."""
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit(fit_on)


@dataclasses.dataclass(frozen=True)
class SklearnDataset(Problem):
    """Split, standardisation, epochs and the shared metrics; subclasses set `dataset` and the model."""

    dataset: ClassVar[str]
    classes: ClassVar[int] = 0  # > 0: classification with one-hot targets

    batch_size: int = option(32, "examples per step; 0 = full batch", **nonneg())
    test_fraction: float = option(0.25, "share of the examples held out for the test metrics",
                                  check=lambda x: 0 < x < 1, allowed="0 < x < 1")

    def validate(self):
        n_train = self.n_train()
        if self.batch_size > n_train:
            raise UserError(f"batch_size={self.batch_size} exceeds the {n_train} training examples")

    def n_train(self) -> int:
        return len(load(self.dataset)[0]) - round(self.test_fraction * len(load(self.dataset)[0]))

    def iters_per_epoch(self):
        return 1 if self.batch_size == 0 else self.n_train() // self.batch_size

    def make_data(self, gen):
        x, y = load(self.dataset)
        order = torch.randperm(len(x), generator=gen, device=gen.device).cpu().numpy()
        train, test = order[:self.n_train()], order[self.n_train():]
        scaler = standard_scaler(x[train])
        data = {}
        for part, idx in (("train", train), ("test", test)):
            z = torch.as_tensor(scaler.transform(x[idx]), dtype=self.dtype, device=self.device)
            data[f"x_{part}"] = torch.cat([torch.ones(len(idx), 1, dtype=self.dtype, device=self.device), z], 1)
            data[f"y_{part}"] = self.targets(y, idx, y[train])
        return data

    def targets(self, y: np.ndarray, idx: np.ndarray, y_train: np.ndarray) -> torch.Tensor:
        if self.classes:
            return torch.nn.functional.one_hot(torch.as_tensor(y[idx]), self.classes).to(self.dtype).to(self.device)
        scaler = standard_scaler(y_train[:, None])
        return torch.as_tensor(scaler.transform(y[idx][:, None]), dtype=self.dtype, device=self.device)

    def sample(self, data, gen, step):
        """The next batch of the current shuffled epoch (the whole training set for full batch)."""
        if self.batch_size == 0:
            return {"x": data["x_train"], "y": data["y_train"]}
        per_epoch = self.iters_per_epoch()
        j = (step - 1) % per_epoch
        if j == 0:
            data["perm"] = torch.randperm(self.n_train(), generator=gen, device=self.device)
        idx = data["perm"][j * self.batch_size:(j + 1) * self.batch_size]
        return {"x": data["x_train"][idx], "y": data["y_train"][idx]}

    def outputs(self, params, x):
        """The model's outputs for one config: `[B, classes]` logits or `[B, 1]` predictions."""
        raise NotImplementedError

    def data_loss(self, out, y):
        if self.classes:
            return (torch.logsumexp(out, -1) - (out * y).sum(-1)).mean()
        return (out - y).pow(2).sum(-1).mean()

    def penalty(self, params):
        return 0.0

    def loss(self, params, batch):
        return self.data_loss(self.outputs(params, batch["x"]), batch["y"]) + self.penalty(params)

    def metrics(self, params, data):
        """Per config, with the seed's data given to each config (a bmm per product)."""
        def per_config(p, d):
            out = {"loss": self.loss(p, {"x": d["x_train"], "y": d["y_train"]})}
            test = self.outputs(p, d["x_test"])
            out["test_loss"] = self.data_loss(test, d["y_test"])
            if self.classes:
                out["test_error"] = (test.argmax(-1) != d["y_test"].argmax(-1)).to(test.dtype).mean()
            return out
        K = len(next(iter(params.values())))
        seed_data = {k: shared(data[k], K) for k in ("x_train", "y_train", "x_test", "y_test")}
        return batched.vmap(per_config)(params, seed_data)


def softmax_cross_entropy_grad(x, W, y):
    """Batched over K: mean CE of softmax(xW) against one-hot y and its gradient xᵀ(softmax(xW) − y)/B."""
    logits = bmm(x, W)
    loss = (torch.logsumexp(logits, -1) - (logits * y).sum(-1)).mean(-1)
    return loss, bmm(x.mT, torch.softmax(logits, -1) - y) / x.shape[-2]


@register
class DigitsSoftmax(SklearnDataset):
    name = "digits_softmax"
    description = "softmax regression on scikit-learn's digits (64 pixels + bias → 10 classes), finite data"
    dataset, classes = "digits", 10
    init_std: float = option(0.0, "std of the initial weights (0: zero init; the loss is convex)", **nonneg())

    def param_shapes(self):
        return {"W": (65, 10)}

    def init_params(self, gen):
        return {"W": self.init_std * self.randn(gen, 65, 10)}

    def outputs(self, params, x):
        return x @ params["W"]

    def loss_and_grad(self, params, batch):
        loss, grad = softmax_cross_entropy_grad(batch["x"], params["W"], batch["y"])
        return loss, {"W": grad}


@register
class DigitsMLP(SklearnDataset):
    name = "digits_mlp"
    description = "one-hidden-layer tanh MLP on scikit-learn's digits (64 → hidden → 10), finite data"
    dataset, classes = "digits", 10
    hidden: int = option(64, "hidden width h", **positive())

    def param_shapes(self):
        return {"W1": (self.hidden, 64), "b1": (self.hidden,), "W2": (10, self.hidden), "b2": (10,)}

    def init_params(self, gen):
        """W ~ N(0, 1/fan_in) (LeCun), biases 0."""
        zeros = dict(dtype=self.dtype, device=self.device)
        return {"W1": self.randn(gen, self.hidden, 64) / 8.0, "b1": torch.zeros(self.hidden, **zeros),
                "W2": self.randn(gen, 10, self.hidden) / self.hidden**0.5, "b2": torch.zeros(10, **zeros)}

    def outputs(self, params, x):
        h = torch.tanh(x[..., 1:] @ params["W1"].T + params["b1"])
        return h @ params["W2"].T + params["b2"]


@register
class Diabetes(SklearnDataset):
    name = "diabetes"
    description = "ridge / least-squares regression on scikit-learn's diabetes (10 features + bias), finite data"
    dataset = "diabetes"
    l2: float = option(0.0, "ridge penalty l2·‖w_{1:}‖² (the bias is not penalised)", **nonneg())

    def param_shapes(self):
        return {"W": (11, 1)}

    def init_params(self, gen):
        return {"W": torch.zeros(11, 1, dtype=self.dtype, device=self.device)}

    def outputs(self, params, x):
        return x @ params["W"]

    def penalty(self, params):
        return self.l2 * params["W"][..., 1:, :].pow(2).sum((-2, -1))

    def loss_and_grad(self, params, batch):
        x, W = batch["x"], params["W"]
        r = bmm(x, W) - batch["y"]
        decayed = torch.cat([torch.zeros_like(W[..., :1, :]), W[..., 1:, :]], -2)
        loss = r.pow(2).sum((-2, -1)) / x.shape[-2] + self.l2 * decayed.pow(2).sum((-2, -1))
        return loss, {"W": 2 * bmm(x.mT, r) / x.shape[-2] + 2 * self.l2 * decayed}

    def make_data(self, gen):
        """Also the training set's optimum: (XᵀX/N + l2·D) w = Xᵀy/N, D = diag(0, 1, …, 1)."""
        data = super().make_data(gen)
        x, y = data["x_train"].double(), data["y_train"].double()
        penalty = self.l2 * torch.diag(torch.tensor([0.0] + [1.0] * 10, dtype=torch.float64, device=x.device))
        data["w_opt"] = torch.linalg.solve(x.T @ x / len(x) + penalty, x.T @ y / len(x)).to(self.dtype)
        data["loss_opt"] = self.loss({"W": data["w_opt"]}, {"x": data["x_train"], "y": data["y_train"]})
        return data

    def metrics(self, params, data):
        out = super().metrics(params, data)
        return out | {"excess_loss": out["loss"] - data["loss_opt"]}

    def optimum(self, data):
        return {"W": data["w_opt"]}
