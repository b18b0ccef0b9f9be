"""toylab's torch.optim classes against torch.optim on ordinary models: the time of `step()`.

Two models, float32, gradients set once (only the optimizer step is timed):

    mlp           64 → 256 → 256 → 10 with biases (6 parameters, 85k weights; the digits MLP widened)
    transformer   L layers of width d: attention q, k, v, o [d, d], MLP [4d, d] and [d, 4d], two
                  LayerNorms and the biases (16 parameters per layer), L = 4, d = 128 (0.8M weights)

torch.optim's default on the CPU is its single-tensor loop (`foreach` is the default on CUDA
only), so that is the baseline; `foreach=True` is shown for reference. Muon steps the 2-D
parameters only (torch.optim.Muon takes nothing else), with Newton–Schulz in bfloat16 as
torch.optim.Muon does (`ns_dtype=bfloat16`) and in toylab's CPU default, float32.

The `cosine lr schedule` row steps a CosineAnnealingLR after every optimizer step, on both sides.
Each repetition times `steps` calls (a tenth of them with bfloat16 Newton–Schulz) with `time.thread_time` (CPU time of this thread: the
machine may be shared), toylab and torch alternating; the table holds medians.
"""
from __future__ import annotations

import statistics
import time

import torch

from .. import optim as toylab_optim

MODELS = {"mlp": lambda: torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                             torch.nn.ReLU(), torch.nn.Linear(256, 10)),
          "transformer": lambda: transformer_like(layers=4, width=128)}


def transformer_like(layers: int, width: int) -> torch.nn.Module:
    """The parameters of a pre-LN transformer stack (no forward pass is needed here)."""
    def block():
        return torch.nn.ModuleDict({
            "ln1": torch.nn.LayerNorm(width), "q": torch.nn.Linear(width, width), "k": torch.nn.Linear(width, width),
            "v": torch.nn.Linear(width, width), "o": torch.nn.Linear(width, width), "ln2": torch.nn.LayerNorm(width),
            "fc1": torch.nn.Linear(width, 4 * width), "fc2": torch.nn.Linear(4 * width, width)})
    return torch.nn.ModuleList([block() for _ in range(layers)])


class Scheduled:
    """An optimizer and a CosineAnnealingLR stepped together, as in the README's drop-in loop: the
    lr changes every step (toylab then refills its lr-affine coefficient rows, `optim/buckets.py`)."""

    def __init__(self, opt):
        self.opt, self.schedule = opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10**6)

    def step(self):
        self.opt.step()
        self.schedule.step()


# (row label, toylab constructor, torch constructors {label: constructor}, 2-D parameters only)
OPTIMIZERS = [
    ("adamw", lambda p: toylab_optim.AdamW(p, lr=1e-3),
     {"torch default": lambda p: torch.optim.AdamW(p, lr=1e-3),
      "torch foreach": lambda p: torch.optim.AdamW(p, lr=1e-3, foreach=True)}, False),
    ("adamw, cosine lr schedule", lambda p: Scheduled(toylab_optim.AdamW(p, lr=1e-3)),
     {"torch default": lambda p: Scheduled(torch.optim.AdamW(p, lr=1e-3)),
      "torch foreach": lambda p: Scheduled(torch.optim.AdamW(p, lr=1e-3, foreach=True))}, False),
    ("sgd, momentum 0.9", lambda p: toylab_optim.SGD(p, lr=1e-3, momentum=0.9),
     {"torch default": lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9),
      "torch foreach": lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, foreach=True)}, False),
    ("muon (bfloat16 NS)", lambda p: toylab_optim.Muon(p, lr=1e-3, ns_dtype="bfloat16"),
     {"torch default": lambda p: torch.optim.Muon(p, lr=1e-3)}, True),
    ("muon (float32 NS)", lambda p: toylab_optim.Muon(p, lr=1e-3, ns_dtype="float32"),
     {"torch default": lambda p: torch.optim.Muon(p, lr=1e-3)}, True),
]


def parameters(model_name: str, matrices_only: bool) -> list[torch.nn.Parameter]:
    torch.manual_seed(0)
    params = [p for p in MODELS[model_name]().parameters() if p.dim() == 2 or not matrices_only]
    for p in params:
        p.grad = 1e-3 * torch.randn_like(p)
    return params


def step_seconds(make, params, steps: int):
    """A callable timing `steps` optimizer steps (CPU seconds per step), after 2 warm-up steps."""
    opt = make(params)
    for _ in range(2):
        opt.step()

    def run():
        start = time.thread_time()
        for _ in range(steps):
            opt.step()
        return (time.thread_time() - start) / steps
    return run


def table(models=("mlp", "transformer"), steps: int = 20, repeats: int = 5, muon: bool = True) -> list[dict]:
    rows = []
    for model in models:
        for label, toylab, baselines, matrices_only in OPTIMIZERS:
            if label.startswith("muon") and not muon:
                continue
            n = max(1, steps // 10) if "bfloat16" in label else steps  # bfloat16 NS: ~1 s per step on CPU
            runs = {"toylab": step_seconds(toylab, parameters(model, matrices_only), n)}
            runs.update({k: step_seconds(make, parameters(model, matrices_only), n) for k, make in baselines.items()})
            times = {k: [] for k in runs}
            for _ in range(repeats):  # alternate, so that a busy moment hits every implementation
                for k, run in runs.items():
                    times[k].append(run())
            median = {k: statistics.median(v) for k, v in times.items()}
            row = {"model": model, "optimizer": label, "toylab ms": 1e3 * median["toylab"]}
            for k in baselines:
                row[f"{k} ms"] = 1e3 * median[k]
            row["toylab / torch default"] = median["toylab"] / median["torch default"]
            rows.append(row)
    return rows
