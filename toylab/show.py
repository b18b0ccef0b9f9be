"""`toylab show`: quick looks at one run (`store.Run`), a text summary and seaborn figures of any
recorded table.

`summary(run)` is what `toylab show` prints; `plot(run, what, save)` draws `what`:

    metrics[:NAME]       every metric (or one) against the step, log y
    norms[:QUANTITY]     the norms probe, one panel per quantity (or one quantity), hue = param
    spectra[:WHICH]      σ_i of WHICH (default grad) over time: one line per index i, log y
    moments[:QUANTITY]   KL (default kl_pq_per_coord) over time, hue = reference, style = moments
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import store  # noqa: E402
from .config import RunConfig  # noqa: E402
from .options import UserError, format_value  # noqa: E402

DEFAULT_QUANTITY = {"spectra": "grad", "moments": "kl_pq_per_coord"}


def _table(run: store.Run, name: str) -> pd.DataFrame:
    return store.read([run], name).drop(columns="run")


def summary(run: store.Run) -> str:
    """Config, status, the last value of every metric, and the probe tables with their quantities."""
    config = RunConfig.from_dict(run.config)
    lines = [f"run {run.name}: {config.problem} · {config.label()} · seed {config.seed} · "
             f"{config.steps} steps · {config.dtype}"]
    if config.problem_options:
        lines.append("  problem: " + " ".join(f"{k}={format_value(v)}" for k, v in config.problem_options.items()))
    lines.append("  optimizer: " + " ".join(f"{k}={format_value(v)}" for k, v in config.hparams.items()))
    if config.schedules:
        lines.append("  schedules: " + " ".join(f"{k}={v}" for k, v in config.schedules.items()))
    diverged = run.status.get("diverged_step")
    lines.append("  status: finished" + (f", diverged at step {diverged}" if diverged else "")
                 + f", {run.status.get('seconds', float('nan')):.3g} s · in {run.where}")
    metrics = _table(run, "metrics")
    last = metrics.sort_values("step").groupby("metric", observed=True).tail(1)
    lines.append("  final metrics: " + "  ".join(f"{r.metric}={r.value:.4g} (step {r.step})" for r in last.itertuples()))
    probes = [t for t in run.tables if t != "metrics"]
    if not probes:
        lines.append("  probe tables: none")
    for name in probes:
        table = _table(run, name)
        steps = sorted(table.step.unique())
        quantities = ", ".join(map(str, table.quantity.unique())) if "quantity" in table else ""
        lines.append(f"  {name}: {len(table)} rows, steps {steps[0]}..{steps[-1]} ({len(steps)}); {quantities}")
    return "\n".join(lines)


def plot(run: store.Run, what: str, save: Path) -> Path:
    """Draw `what` (see the module docstring) of the run into `save` (PNG, PDF, ...)."""
    table_name, _, quantity = what.partition(":")
    if table_name not in run.tables:
        raise UserError(f"no {table_name} table in {run.address}; tables: {', '.join(run.tables)}")
    table = _table(run, table_name)
    label = "metric" if table_name == "metrics" else "quantity"
    quantity = quantity or DEFAULT_QUANTITY.get(table_name, "")
    if quantity:
        if quantity not in set(table[label]):
            raise UserError(f"no {label} {quantity!r} in {table_name}; choose one of "
                            f"{', '.join(map(str, table[label].unique()))}")
        table = table[table[label] == quantity]
    table = table.assign(**{c: table[c].astype(str) for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)})
    title = f"{RunConfig.from_dict(run.config).label()}: {what}"
    if table_name == "spectra":
        grid = sns.relplot(table, x="step", y="value", hue="index", col="param", kind="line", palette="viridis",
                           height=3.5, aspect=1.3)
        grid.set(yscale="log", ylabel=f"σ_i of {quantity}")
    elif table_name == "moments":
        grid = sns.relplot(table, x="step", y="value", hue="reference", style="moments", col="param", kind="line",
                           height=3.5, aspect=1.3)
        grid.set(yscale="log", ylabel=quantity)
    elif table_name == "metrics":
        grid = sns.relplot(table, x="step", y="value", hue="metric", kind="line", height=3.5, aspect=1.5)
        grid.set(yscale="log")
    else:
        grid = sns.relplot(table, x="step", y="value", hue="param", col=label, col_wrap=min(3, table[label].nunique()),
                           kind="line", height=3, aspect=1.2, facet_kws={"sharey": False})
    grid.figure.suptitle(title, y=1.02)
    save = Path(save)
    save.parent.mkdir(parents=True, exist_ok=True)
    grid.figure.savefig(save, bbox_inches="tight", dpi=120)
    plt.close(grid.figure)
    return save
