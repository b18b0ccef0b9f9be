"""The parameters themselves, flattened: θ_t per parameter as rows `index = 0…d−1`.

For checks that compare whole trajectories rather than summaries of them, such as docs/claims.md
C10 (004 Theorem 1: w'_t = w_t/c). Cheap to take, large to keep: use on small problems.
"""
from __future__ import annotations

from . import Context, Probe


def measure(ctx: Context) -> dict:
    return {(name,): theta.flatten(1) for name, theta in ctx.params.items()}


PROBE = Probe("weights", ("param",), measure, "the parameters θ_t, flattened (index = coordinate)")
