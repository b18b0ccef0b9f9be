"""The `toylab` command line: thin parsing around experiments, store and report."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import click
import numpy as np

from . import optim, problems
from . import shards as shards_lib
from .config import DTYPES, TIMESCALES, RunConfig
from .experiments import grid, run_configs, summary
from .options import UserError

PAIR_HELP = "KEY=VALUE; repeat the option for several keys"


class BadInput(click.ClickException):
    """Printed as the single line `Error: <message>`, exit status 2 (a usage error)."""

    exit_code = 2


class Group(click.Group):
    """Turns a `UserError` anywhere below into a one-line error, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as e:
            raise BadInput(str(e)) from None


@click.group(cls=Group)
@click.version_option(package_name="toylab")
def main():
    """toylab: run optimizer toy problems as batched sweeps and see why optimizers behave as they do."""


# ----- list -------------------------------------------------------------------------------------
@main.command("list")
def list_cmd():
    """Print every problem and optimizer with its options and their defaults."""
    click.echo("Problems (options: --problem-opt KEY=VALUE)")
    for name, cls in sorted(problems.discover().items()):
        _print_entry(name, cls.description, cls.options())
    click.echo("\nOptimizers (options: --opt KEY=VALUE)")
    for name in optim.names():
        opt = optim.get(name)
        _print_entry(name, opt.description, opt.hparams)


def _print_entry(name, description, options):
    click.echo(f"  {name}: {description}")
    for key, opt in options.items():
        click.echo(f"      {key:<20} {opt.describe()}")


# ----- shared options -----------------------------------------------------------------------------
def common_options(f):
    decorators = [
        click.option("--problem-opt", "-p", "problem_opts", multiple=True, metavar="KEY=VALUE",
                     help=f"A problem option ({PAIR_HELP}); `toylab list` shows them."),
        click.option("--opt", "-o", "opts", multiple=True, metavar="KEY=VALUE",
                     help=f"An optimizer hyperparameter ({PAIR_HELP}); `toylab list` shows them."),
        click.option("--schedule", "schedules", multiple=True, metavar="HPARAM=SPEC",
                     help="Schedule a hyperparameter, e.g. lr=cosine:warmup=100 (default: constant)."),
        click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True,
                     help="Number of optimizer steps (updates)."),
        click.option("--metric-every", type=click.IntRange(min=1), default=10, show_default=True,
                     help="Record metrics every N steps (and at step 0 and the last step)."),
        click.option("--probe", "probes", default="", metavar="NAMES",
                     help="Comma-separated probes to record: norms, spectra, moments (default none); "
                          "each writes <probe>.parquet into the run folder."),
        click.option("--probe-every", type=click.IntRange(min=1), default=10, show_default=True,
                     help="Run the probes after step 1, every N steps and the last step."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     help="Where to run: auto picks CUDA when present."),
        click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
                     help="Floating-point type of parameters, data and optimizer state."),
        click.option("--blowup", type=float, default=1e6, show_default=True,
                     help="Mark a config diverged once its batch loss exceeds BLOWUP × its first one (0: off)."),
        click.option("--compile", "compile_", is_flag=True,
                     help="Run the optimizer step under torch.compile (eager where no compiler works)."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"),
                     show_default=True, help="Folder of run folders (one per config hash)."),
        click.option("--force", is_flag=True, help="Re-run even if a finished run with the same config exists."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def split_pairs(pairs: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{what} {pair!r} is not KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _base(problem, optimizer, problem_opts, opts, schedules, steps, metric_every, probes, probe_every, dtype,
          blowup, compile_):
    return RunConfig(problem=problem, optimizer=optimizer, problem_options=problem_opts, hparams=opts,
                     schedules=split_pairs(schedules, "--schedule"), steps=steps, metric_every=metric_every,
                     probes=tuple(p for p in probes.split(",") if p), probe_every=probe_every, dtype=dtype,
                     blowup=blowup, compile=compile_)


def _print_summary(out, configs):
    if not configs:
        click.echo("no configs in this shard")
        return
    table = summary(out, configs)
    cols = [c for c in ["label", "seed", "loss", "excess_loss", "dist_to_opt", "batch_loss", "diverged_step"]
            if c in table.columns]
    rest = [c for c in table.columns if c not in cols]
    table = table[cols + rest]
    table["diverged_step"] = table["diverged_step"].map(lambda s: "-" if s is None or s != s else int(s))
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    where = out / configs[0].hash() if len(configs) == 1 else f"{out}/<config hash>/ ({len(configs)} runs)"
    click.echo(f"run folder: {where}")


# ----- run ----------------------------------------------------------------------------------------
@main.command()
@click.argument("problem")
@click.option("--optimizer", required=True, help="Optimizer name (adamw, sgd, signsgd, muon).")
@click.option("--lr", type=float, default=None, help="Learning rate (default: the optimizer's default).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the initial point, the data and the batch stream.")
@common_options
def run(problem, optimizer, lr, seed, problem_opts, opts, schedules, steps, metric_every, probes, probe_every,
        device, dtype, blowup, compile_, out, force):
    """Run one configuration of PROBLEM and print its final metrics."""
    opts = split_pairs(opts, "--opt")
    if lr is not None:
        opts["lr"] = lr
    config = _base(problem, optimizer, split_pairs(problem_opts, "--problem-opt"), opts, schedules, steps,
                   metric_every, probes, probe_every, dtype, blowup, compile_)
    config = RunConfig(**{**config.__dict__, "seed": seed})
    configs = run_configs([config], out, device=device, force=force, progress=sys.stderr.isatty())
    _print_summary(out, configs)


# ----- sweep --------------------------------------------------------------------------------------
@main.command()
@click.argument("problem")
@click.option("--optimizer", required=True, metavar="NAMES", help="Comma-separated optimizers, e.g. adamw,muon.")
@click.option("--lr", "lrs", default=None, metavar="LIST",
              help="Learning rates: a list 1e-3,3e-3,1e-2 or a log grid LOW:HIGH:N (default: each optimizer's).")
@click.option("--seeds", default="0", show_default=True, metavar="LIST",
              help="Seeds: a list 0,1,5 or a range 0-3 (inclusive).")
@click.option("--shard", default=None, metavar="I/N",
              help="Run only shard I of N (0-based) of the sweep; all shards share --out.")
@click.option("--launcher", type=click.Choice(["submitit"]), default=None,
              help="Run --shards shards as submitit jobs (Slurm if present, else local processes).")
@click.option("--shards", type=click.IntRange(min=1), default=1, show_default=True,
              help="Number of shards for --launcher.")
@common_options
def sweep(problem, optimizer, lrs, seeds, shard, launcher, shards, problem_opts, opts, schedules, steps,
          metric_every, probes, probe_every, device, dtype, blowup, compile_, out, force):
    """Run the grid of every listed value as batched tensor programs.

    Any --opt or --problem-opt value may be a comma-separated list (a semicolon-separated one for
    pairs such as betas=0.9,0.95;0.95,0.95); the sweep is the product of all lists. An --opt key
    applies to the optimizers that have it.
    """
    if shard is not None and launcher is not None:
        raise UserError("--shard runs one shard here; --launcher runs them all: give one of them")
    shard = shards_lib.parse(shard) if shard is not None else None
    configs = []
    problem_axes = {f"problem_options.{k}": parse_list(v, problems.get(problem).options().get(k))
                    for k, v in split_pairs(problem_opts, "--problem-opt").items()}
    hp_pairs = split_pairs(opts, "--opt")
    names = [n.strip() for n in optimizer.split(",") if n.strip()]
    declared = {n: {**optim.get(n).hparams, **TIMESCALES} for n in names}
    for key in hp_pairs:
        if not any(key in d for d in declared.values()):
            raise UserError(f"unknown optimizer option {key!r} for {', '.join(names)}; "
                            f"valid options: {', '.join(sorted(set().union(*declared.values())))}")
    for name in names:
        axes = dict(problem_axes)
        axes.update({f"hparams.{k}": parse_list(v, declared[name][k]) for k, v in hp_pairs.items() if k in declared[name]})
        if lrs is not None:
            axes["hparams.lr"] = parse_lrs(lrs)
        axes["seed"] = parse_seeds(seeds)
        base = _base(problem, name, {}, {}, schedules, steps, metric_every, probes, probe_every, dtype, blowup,
                     compile_)
        configs += grid(base, axes)
    if launcher == "submitit":
        shards_lib.launch(configs, out, shards, device=device, force=force)
        configs = [c.resolve() for c in configs]
    else:
        if shard is not None:
            configs = shards_lib.select([c.resolve() for c in configs], *shard)
        configs = run_configs(configs, out, device=device, force=force, progress=sys.stderr.isatty())
    _print_summary(out, configs)


# ----- report -------------------------------------------------------------------------------------
@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quick", is_flag=True, help="Use each spec's [quick] overrides (few steps, two seeds).")
@click.option("--force", is_flag=True, help="Re-run every run, even those already finished.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the reports and their runs (default: next to each spec, e.g. reports/).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to run: auto picks CUDA when present.")
def report(specs, quick, force, out, device):
    """Run what SPECS (reports/<name>/spec.toml) need and write figures, tables, report.md and index.html."""
    from .report import render_all

    timings = render_all(list(specs), out=out, quick=quick, force=force, device=device,
                         progress=sys.stderr.isatty())
    for name, seconds in timings:
        click.echo(f"{name:<32} {seconds:7.1f} s")
    click.echo(f"{'total':<32} {sum(s for _, s in timings):7.1f} s")


# ----- show ---------------------------------------------------------------------------------------
@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--plot", "what", default=None, metavar="WHAT",
              help="Draw a table: metrics, norms, spectra or moments, optionally :QUANTITY "
                   "(e.g. spectra:direction, moments:kl_qp).")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the figure (PNG, PDF, SVG); needed with --plot.")
def show(folder, what, save):
    """Summarise a run folder: config, status, final metrics and probe tables; --plot draws one."""
    from .probes import plots

    click.echo(plots.summary(folder))
    if what is not None:
        if save is None:
            raise UserError("--plot needs --save FILE.png")
        click.echo(f"wrote {plots.plot(folder, what, save)}")


@main.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args):
    """Run the benchmarks (`make bench`); `toylab bench --help` lists their options."""
    from .bench.__main__ import main as bench_main

    bench_main(list(args))


def parse_list(text: str, option) -> list:
    """Split a sweep value into its items (by ';' for pair-valued options, else by ',')."""
    pair = option is not None and isinstance(option.default, tuple)
    return [item.strip() for item in text.split(";" if pair else ",") if item.strip()]


def parse_lrs(text: str) -> list[float]:
    try:
        if ":" in text:
            low, high, n = text.split(":")
            values = np.geomspace(float(low), float(high), int(n)).tolist()
        else:
            values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--lr {text!r} is neither a list like 1e-3,3e-3 nor a grid like 1e-4:1e-1:7") from None
    bad = [v for v in values if not (v >= 0 and math.isfinite(v))]
    if bad or not values:
        raise UserError(f"--lr {text!r}: learning rates must be finite and >= 0")
    return values


def parse_seeds(text: str) -> list[int]:
    seeds = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            seeds += list(range(int(low), int(high) + 1)) if sep else [int(low)]
    except ValueError:
        raise UserError(f"--seeds {text!r} is neither a list like 0,1,5 nor a range like 0-3") from None
    if not seeds or min(seeds) < 0:
        raise UserError(f"--seeds {text!r}: seeds must be non-negative integers")
    return sorted(set(seeds))


if __name__ == "__main__":
    main()
