"""Fused elementwise optimizer steps: one pass over memory per parameter instead of one per op.

Each kernel advances K configs stored as `[K, n]` rows (a parameter viewed in memory order),
with per-config coefficients `c[k]` (the rows of `InPlace`'s tables), and computes, for every
element of row k, exactly the formula of the optimizer's eager `step_`:

    adamw     v ← lerp(v, g², 1−β2)  m ← lerp(m, g, 1−β1)  a = √v/√(1−β2^t) + ε
              θ' = θ·(1−ηλ) + (−η/(1−β1^t))·(m/a)                    [u = (m/(1−β1^t))/a]
    sgd       g' = g + c·θ   b ← μb + (1−τ)g'   θ' = sθ + (−ηα)g' + (−ηβ)b   [u = αg' + βb]
    signsgd   m ← lerp(m, g, 1−β)  u = sign(m)  θ' = θ·(1−ηλ) + (−η)u
    muon      ema: M ← lerp(M, G, 1−μ), U = lerp(G, M, μ) or M;  sum: M ← μM + G, U = G + μM or M
              (`muon_momentum`), and θ' = θ·(1−ηλ) + (−η s)·O after Newton–Schulz (`scale_add`)

with lerp(a, b, w) = a + w(b − a) for |w| < ½, else b − (b − a)(1 − w), as torch computes it.

Why it is bit-for-bit batch independent: every element is computed from its own row's
coefficients by IEEE-754 operations (+, −, ×, ÷, √, compare) that are correctly rounded
whether the compiler emits them as vector or scalar instructions, and the C is compiled with
`-ffp-contract=off` and without -ffast-math, so no fused multiply-add or reassociation changes
a result with the element's position (vector body or tail) in the loop. It agrees with the
eager step to rounding, not bit for bit (torch's own vector kernels contract some a·b + c, e.g. in
`lerp`; measured ≤ 2 ulp per step).

The C source below is compiled once per machine with the system's C compiler (`cc`, ≈ 0.3 s)
into `$XDG_CACHE_HOME/toylab/` (or ~/.cache/toylab), named by the hash of the source and the
compiler flags, and loaded with ctypes (≈ 10 ms per process, ≈ 3 µs per call). `library()` is
None where no compiler works; then every step runs eagerly, for every K.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

SOURCE = r"""
#include <math.h>
#include <stdint.h>

#define LERP(a, b, w) (fabs(w) < 0.5 ? (a) + (w) * ((b) - (a)) : (b) - ((b) - (a)) * (1 - (w)))
#define SIGN(x) ((x) > 0 ? 1 : ((x) < 0 ? -1 : 0))
#define ROW(x) ((x) ? (x) + k * n : 0)

#define KERNELS(T, SQRT)                                                                        \
void adamw_##T(int64_t K, int64_t n, const T *p_, T *out_, const T *g_, T *m_, T *v_, T *u_,   \
               const T *decay, const T *w2, const T *bc2_sqrt, const T *eps, const T *w1,      \
               const T *neg_step, const T *bc1) {                                              \
    for (int64_t k = 0; k < K; k++) {                                                          \
        const T *p = ROW(p_), *g = ROW(g_); T *out = ROW(out_), *m = ROW(m_), *v = ROW(v_);    \
        T *u = ROW(u_);                                                                        \
        const T dk = decay[k], w2k = w2[k], bk = bc2_sqrt[k], ek = eps[k], w1k = w1[k];        \
        const T sk = neg_step[k], b1k = bc1[k];                                                \
        for (int64_t i = 0; i < n; i++) {                                                      \
            const T gi = g[i], gg = gi * gi;                                                   \
            const T vi = LERP(v[i], gg, w2k), mi = LERP(m[i], gi, w1k);                        \
            const T a = SQRT(vi) / bk + ek;                                                    \
            v[i] = vi; m[i] = mi;                                                              \
            out[i] = p[i] * dk + (mi / a) * sk;                                                \
            if (u) u[i] = mi / b1k / a;                                                        \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
void sgd_##T(int64_t K, int64_t n, const T *p_, T *out_, const T *g_, T *b_, T *u_,             \
             const T *coupled, const T *mu, const T *damp1, const T *alpha, const T *beta,     \
             const T *shrink, const T *neg_alpha, const T *neg_beta) {                         \
    for (int64_t k = 0; k < K; k++) {                                                          \
        const T *p = ROW(p_), *g = ROW(g_); T *out = ROW(out_), *b = ROW(b_), *u = ROW(u_);    \
        const T ck = coupled[k], mk = mu[k], dk = damp1[k], ak = alpha[k], bk = beta[k];       \
        const T sk = shrink[k], nak = neg_alpha[k], nbk = neg_beta[k];                         \
        for (int64_t i = 0; i < n; i++) {                                                      \
            const T gi = g[i] + ck * p[i];                                                     \
            const T bi = b[i] * mk + dk * gi;                                                  \
            b[i] = bi;                                                                         \
            if (u) u[i] = gi * ak + bk * bi;                                                   \
            out[i] = p[i] * sk + nak * gi + nbk * bi;                                          \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
void signsgd_##T(int64_t K, int64_t n, const T *p_, T *out_, const T *g_, T *m_, T *u_,        \
                 const T *w, const T *decay, const T *neg_lr) {                                \
    for (int64_t k = 0; k < K; k++) {                                                          \
        const T *p = ROW(p_), *g = ROW(g_); T *out = ROW(out_), *m = ROW(m_), *u = ROW(u_);    \
        const T wk = w[k], dk = decay[k], lk = neg_lr[k];                                      \
        for (int64_t i = 0; i < n; i++) {                                                      \
            const T mi = LERP(m[i], g[i], wk);                                                 \
            const T si = SIGN(mi);                                                             \
            m[i] = mi;                                                                         \
            if (u) u[i] = si;                                                                  \
            out[i] = p[i] * dk + lk * si;                                                      \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
void muon_momentum_##T(int64_t K, int64_t n, const T *g_, T *b_, T *u_, int64_t ema,           \
                       const T *mu, const T *w, const T *nesterov) {                           \
    for (int64_t k = 0; k < K; k++) {                                                          \
        const T *g = ROW(g_); T *b = ROW(b_), *u = ROW(u_);                                    \
        const T mk = mu[k], wk = w[k];                                                         \
        const int nk = nesterov[k] > 0;                                                        \
        for (int64_t i = 0; i < n; i++) {                                                      \
            const T gi = g[i];                                                                 \
            const T bi = ema ? LERP(b[i], gi, wk) : b[i] * mk + gi;                            \
            b[i] = bi;                                                                         \
            u[i] = nk ? (ema ? LERP(gi, bi, mk) : gi + mk * bi) : bi;                          \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
void scale_add_##T(int64_t K, int64_t n, const T *p_, T *out_, const T *o_,                    \
                   const T *decay, const T *scale) {                                           \
    for (int64_t k = 0; k < K; k++) {                                                          \
        const T *p = ROW(p_), *o = ROW(o_); T *out = ROW(out_);                                \
        const T dk = decay[k], sk = scale[k];                                                  \
        for (int64_t i = 0; i < n; i++) out[i] = p[i] * dk + sk * o[i];                        \
    }                                                                                          \
}

KERNELS(float, sqrtf)
KERNELS(double, sqrt)
"""

FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno"]
TYPES = {torch.float32: "float", torch.float64: "double"}


def _cpu() -> str:
    """The CPU's instruction sets (-march=native builds for them): a cache shared by machines keeps one build each."""
    try:
        return next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")),
                    platform.processor())
    except OSError:
        return platform.machine()


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "toylab"


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The compiled kernels, built on first use on this machine; None where no C compiler works."""
    compiler = os.environ.get("CC", "cc")
    key = hashlib.sha256("\0".join([SOURCE, compiler, *FLAGS, _cpu()]).encode()).hexdigest()[:16]
    path = cache_dir() / f"fused-{key}.so"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                source, built = Path(tmp) / "fused.c", Path(tmp) / "fused.so"
                source.write_text(SOURCE)
                subprocess.run([compiler, *FLAGS, str(source), "-o", str(built), "-lm"], check=True,
                               capture_output=True)
                os.replace(built, path)  # atomic: a concurrent build publishes the same bytes
        return ctypes.CDLL(str(path))
    except (OSError, subprocess.CalledProcessError):
        return None


def available(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether fused kernels run for this dtype and device (float32/float64 on the CPU, with a compiler)."""
    return device.type == "cpu" and dtype in TYPES and library() is not None


def call(name: str, *args) -> None:
    """Run kernel `name` (K, n, then `args` in the C signature's order): tensors, contiguous and
    of one dtype, pass their data; None passes NULL; ints pass as int64."""
    tensors = [a for a in args if isinstance(a, Tensor)]
    dtype = tensors[0].dtype
    if not all(t.dtype == dtype and t.is_contiguous() for t in tensors):
        raise ValueError(f"fused {name}: every tensor must be contiguous and {dtype}: "
                         f"{[(tuple(t.shape), t.stride(), t.dtype) for t in tensors]}")
    getattr(library(), f"{name}_{TYPES[dtype]}")(*(_arg(a) for a in args))


def _arg(a):
    if isinstance(a, Tensor):
        return ctypes.c_void_p(a.data_ptr())
    return ctypes.c_void_p(None) if a is None else ctypes.c_int64(a)
