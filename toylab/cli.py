"""The `toylab` command line: thin parsing around experiments, store and report.

Parsing, `--help`, usage errors and bad values are checked before torch is imported (~2 s of
CPU): the modules that need it are imported inside the commands, after `runtime.configure`."""
from __future__ import annotations

import atexit
import dataclasses
import json
import math
import os
import sys
import threading
import warnings
from pathlib import Path

import click

from . import runtime
from .options import DTYPES, Failure, ToylabWarning, UserError, check_sweep_size, parse_seeds, warn

PAIR_HELP = "KEY=VALUE; repeat the option for several keys"


class BadInput(click.ClickException):
    """Printed as the single line `Error: <message>`, exit status 2 (a usage error)."""

    exit_code = 2


class Command(click.Command):
    """A command whose single-valued options are given at most once: a repeat is a one-line
    error naming both values rather than a silent override of the first."""

    def parse_args(self, ctx, args):
        single = {name: p for p in self.params if isinstance(p, click.Option) and not p.multiple
                  and not p.is_flag and not p.count for name in p.opts}
        seen: dict[str, tuple[str, str]] = {}
        i = 0
        while i < len(args) and args[i] != "--":
            name, eq, value = args[i].partition("=")
            if name in single:
                if not eq:
                    value, i = (args[i + 1] if i + 1 < len(args) else ""), i + 1
                key = single[name].name
                if key in seen:
                    first = seen[key]
                    raise UserError(f"{first[0]} is given twice ({first[0]} {first[1]} and {name} {value}); "
                                    f"give it once" + (" (a list of values: --lr 1e-3,1e-2)" if key == "lrs" else ""))
                seen[key] = (name, value)
            i += 1
        return super().parse_args(ctx, args)


class Group(click.Group):
    """Turns a `UserError` (exit 2) or a `Failure` (exit 1) anywhere below into a one-line
    error, never a traceback, prints each `ToylabWarning` as one line on stderr, and says
    Ctrl-C as `toylab: interrupted` (exit 130), as it is said while torch still loads."""

    command_class = Command

    def invoke(self, ctx):
        with warnings.catch_warnings():
            warnings.simplefilter("always", ToylabWarning)
            warnings.showwarning = _one_line_warning
            try:
                return super().invoke(ctx)
            except UserError as e:
                raise BadInput(str(e)) from None
            except Failure as e:
                raise click.ClickException(str(e)) from None
            except KeyboardInterrupt:
                click.echo("toylab: interrupted", err=True)
                raise click.exceptions.Exit(130) from None


def _one_line_warning(message, category, *args, **kwargs):
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=Group)
@click.version_option(package_name="toylab")
def main():
    """toylab: run optimizer toy problems as batched sweeps and see why optimizers behave as they do."""
    runtime.threads()  # a bad TOYLAB_THREADS is an error before anything loads


class Count(click.ParamType):
    """A positive integer, also written as 1e6 or 1_000_000."""

    name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            number = float(value)
            if not (number.is_integer() and number >= 1):
                raise ValueError
            return int(number) if "e" in value.lower() else int(value)
        except (ValueError, OverflowError):
            self.fail(f"{value!r} is not a positive integer (1, 2, ... or 1e6)", param, ctx)


def out_folder(ctx, param, value):
    """--out: a folder of runs, not '' (the current folder), not a run folder of an older toylab
    and not one of its batches."""
    if value is None:
        return None
    if not str(value).strip():
        raise UserError(f"--out {value!r} is empty; name a folder for the run folders (default: runs)")
    path = Path(value)
    if (path / "config.json").is_file():
        raise UserError(f"--out {value} is a run folder (it holds config.json); give the folder that holds run "
                        f"folders, e.g. --out {path.parent}")
    if (path / "manifest.json").is_file():
        raise UserError(f"--out {value} is a batch of runs (it holds manifest.json); give the folder that holds "
                        f"its batches/, e.g. --out {path.parent.parent}")
    return path


# ----- list -------------------------------------------------------------------------------------
@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object (for tools).")
def list_cmd(as_json):
    """Print problems, optimizers, timescales, schedules, probes (with their quantities) and reports."""
    runtime.configure()
    from . import catalog, claims, problems

    data = catalog.catalog()
    folders = [str(folder.resolve()) for folder in problems.problem_dirs()]
    click.echo(json.dumps({**data, "problem_folders": folders}, indent=1) if as_json else catalog.text(data))
    if not as_json:
        for path, why in problems.BROKEN.items():
            click.echo(f"  (problem file not loaded: {path}: {why})")
        click.echo(f"\nproblems are loaded from {', '.join(folders)} ($TOYLAB_PROBLEMS adds folders); every .py "
                   f"there runs as Python code in list, run, sweep and summary: keep only trusted files there; "
                   f"likewise every .py of the claim folders ({', '.join(str(d) for d in claims.claim_dirs())}, "
                   f"$TOYLAB_CLAIMS) in report, and in list where its SPEC is not one plain string")


# ----- shared options -----------------------------------------------------------------------------
def common_options(f):
    decorators = [
        click.option("--problem-opt", "-p", "problem_opts", multiple=True, metavar="KEY=VALUE",
                     help=f"A problem option ({PAIR_HELP}); `toylab list` shows them."),
        click.option("--opt", "-o", "opts", multiple=True, metavar="KEY=VALUE",
                     help=f"An optimizer hyperparameter ({PAIR_HELP}); `toylab list` shows them."),
        click.option("--schedule", "schedules", multiple=True, metavar="HPARAM=SPEC",
                     help="Schedule a hyperparameter, e.g. lr=cosine:warmup=100 (default: constant)."),
        click.option("--steps", type=Count(), default=1000, show_default=True,
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
        click.option("--compile/--eager", "compile_", default=True, show_default=True,
                     help="Steps after the first as one fused C kernel per parameter (built once per machine; "
                          "eager where no C compiler works), or as torch's eager ops, the reference."),
        click.option("--out", default="runs", show_default=True, callback=out_folder,
                     help="Folder of run folders (one per config hash)."),
        click.option("--force", is_flag=True, help="Re-run even if a finished run with the same config exists."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def split_pairs(pairs: tuple[str, ...], what: str) -> dict[str, str]:
    """`KEY=VALUE` strings as a dict; a key given twice is an error (not a silent last-wins)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{what} {pair!r} is not KEY=VALUE")
        key = key.strip()
        if key in out:
            listed = f" (a sweep takes a list: {what} {key}={out[key]},{value.strip()})" if what != "--schedule" else ""
            raise UserError(f"{what} {key} is given twice ({key}={out[key]} and {key}={value.strip()}); "
                            f"give each key once{listed}")
        out[key] = value.strip()
    return out


def _base(problem, optimizer, problem_opts, opts, schedules, steps, metric_every, probes, probe_every, dtype,
          blowup, compile_):
    from .config import RunConfig

    return RunConfig(problem=problem, optimizer=optimizer, problem_options=problem_opts, hparams=opts,
                     schedules=split_pairs(schedules, "--schedule"), steps=steps, metric_every=metric_every,
                     probes=tuple(p for p in probes.split(",") if p), probe_every=probe_every, dtype=dtype,
                     blowup=blowup, compile=compile_)


def _print_summary(out, configs):
    if not configs:
        click.echo("no configs in this shard")
        return
    from .experiments import summary

    table = summary(out, configs)
    missing = table.attrs["missing"]
    cols = [c for c in ["label", "seed", "loss", "excess_loss", "dist_to_opt", "batch_loss", "diverged_step"]
            if c in table.columns]
    rest = [c for c in table.columns if c not in cols]
    table = table[cols + rest]
    table["diverged_step"] = table["diverged_step"].map(lambda s: "-" if s is None or s != s else int(s))
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    runs = len(table)
    where = out / configs[0].hash() if runs == 1 else f"{out}/<config hash> ({runs} runs)"
    click.echo(f"run: {where} (toylab show)")
    if missing:
        raise Failure(f"{len(missing)} of {runs} runs have no readable metrics: {', '.join(missing[:5])}"
                      + (" ..." if len(missing) > 5 else ""))


def _print_aggregate(out, configs):
    """The sweep's settings aggregated over seeds, then where its runs are and how to plot them."""
    if not configs:
        click.echo("no configs in this shard")
        return
    from . import store, summarize

    names = sorted({c.hash() for c in configs})
    metrics = summarize.load_runs(store.runs_of(out, names), where=str(out), finals=True)
    table = summarize.aggregate(metrics)
    click.echo(summarize.format_table(table))
    click.echo(f"{len(names)} runs in {out}/\nfigures: {summarize.plot_command(out, table)}\n"
               f"every field as CSV: toylab summary {out} --format csv")
    missing = sorted(set(names) - set(metrics["run"].unique()))
    if missing:
        raise Failure(f"{len(missing)} of {len(names)} runs have no readable metrics: {', '.join(missing[:5])}"
                      + (" ..." if len(missing) > 5 else ""))


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
    problem_opts = split_pairs(problem_opts, "--problem-opt")
    if lr is not None:
        if "lr" in opts:
            warn(f"--lr {lr:g} overrides -o lr={opts['lr']}")
        opts["lr"] = lr
    runtime.configure()
    from .experiments import run_configs

    config = _base(problem, optimizer, problem_opts, opts, schedules, steps, metric_every, probes, probe_every,
                   dtype, blowup, compile_)
    config = dataclasses.replace(config, seed=seed)
    configs = run_configs([config], out, device=device, force=force, progress=True)
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
    if shards != 1 and launcher is None:
        warn(f"--shards {shards} has no effect without --launcher submitit (--shard I/N runs one shard)")
    problem_pairs = split_pairs(problem_opts, "--problem-opt")
    hp_pairs = split_pairs(opts, "--opt")
    if lrs is not None and "lr" in hp_pairs:
        warn(f"--lr {lrs} overrides -o lr={hp_pairs['lr']}")
    lr_values = parse_lrs(lrs) if lrs is not None else None
    seed_values = parse_seeds(seeds)
    runtime.configure()
    from . import optim, problems
    from . import shards as shards_lib
    from .config import TIMESCALES
    from .experiments import prepare, run_configs
    from .grids import grid, size

    shard = shards_lib.parse(shard) if shard is not None else None
    problem_axes = {f"problem_options.{k}": parse_list(v, problems.get(problem).options().get(k))
                    for k, v in problem_pairs.items()}
    names = [n.strip() for n in optimizer.split(",") if n.strip()]
    declared = {n: {**optim.get(n).hparams, **TIMESCALES} for n in names}
    for key in hp_pairs:
        if not any(key in d for d in declared.values()):
            raise UserError(f"unknown optimizer option {key!r} for {', '.join(names)}; "
                            f"valid options: {', '.join(sorted(set().union(*declared.values())))}")
    all_axes = {}
    for name in names:
        axes = dict(problem_axes)
        axes.update({f"hparams.{k}": parse_list(v, declared[name][k]) for k, v in hp_pairs.items() if k in declared[name]})
        if lr_values is not None:
            axes["hparams.lr"] = lr_values
        axes["seed"] = seed_values
        all_axes[name] = axes
    check_sweep_size(sum(size(axes) for axes in all_axes.values()))
    configs = []
    for name, axes in all_axes.items():
        base = _base(problem, name, {}, {}, schedules, steps, metric_every, probes, probe_every, dtype, blowup,
                     compile_)
        configs += grid(base, axes)
    if launcher == "submitit":
        configs = prepare(configs, out, device)
        shards_lib.launch(configs, out, shards, device=device, force=force)
    else:
        if shard is not None:
            configs = shards_lib.select([c.resolve() for c in configs], *shard)
        configs = run_configs(configs, out, device=device, force=force, progress=True)
    _print_aggregate(out, configs)


# ----- compare ------------------------------------------------------------------------------------
@main.command()
@click.argument("problem")
@click.option("--optimizer", required=True, metavar="NAMES", help="Comma-separated optimizers, at least two.")
@click.option("--lr", "lrs", default="1e-4:1:9", show_default=True, metavar="LIST",
              help="Learning rates to tune over: a list 1e-3,3e-3 or a log grid LOW:HIGH:N.")
@click.option("--tune-seeds", default="0-2", show_default=True, metavar="LIST",
              help="Seeds the hyperparameters are tuned on.")
@click.option("--score-seeds", default="100-107", show_default=True, metavar="LIST",
              help="Held-out seeds the tuned settings are scored on (disjoint from --tune-seeds).")
@click.option("--metric", default="loss", show_default=True, help="What the target is on: loss or excess_loss.")
@click.option("--target", type=float, default=None, help="The target value of --metric (default: derived, "
                                                         "see --target-factor).")
@click.option("--target-factor", type=float, default=None,
              help="Without --target: the target is this (>= 1; default 2) times the smallest geometric-mean final "
                   "value of any setting on the tuning seeds.")
@click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level of the paired intervals.")
@click.option("--tau-max", type=float, default=10.0, show_default=True,
              help="Largest factor τ of the performance profile.")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), default=Path("compare.png"),
              show_default=True, help="Figure file (.png, .svg or .pdf); the tables go beside it as .csv and .json.")
@common_options
def compare(problem, optimizer, lrs, tune_seeds, score_seeds, metric, target, target_factor, level, tau_max, save,
            problem_opts, opts, schedules, steps, metric_every, probes, probe_every, device, dtype, blowup, compile_,
            out, force):
    """Tune each optimizer on tuning seeds, score it on held-out seeds: steps to a target and final
    value with paired intervals, and performance profiles over a family of problems.

    Every --opt value may be a list (the hyperparameters tuned besides the lr); every
    --problem-opt value may be a list (the family of problems, e.g. condition_number=1,100).
    """
    if target is not None and target_factor is not None:
        raise UserError("give --target or --target-factor, not both")
    if save.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UserError(f"--save {save}: cannot write {save.suffix or 'a file without a suffix'}; "
                        f"use one of .png, .svg, .pdf")
    names = list(dict.fromkeys(n.strip() for n in optimizer.split(",") if n.strip()))
    problem_pairs = split_pairs(problem_opts, "--problem-opt")
    hp_lists = split_pairs(opts, "--opt")
    if "lr" in hp_lists:
        raise UserError(f"-o lr={hp_lists['lr']}: give the learning rates to tune as --lr")
    lr_values = parse_lrs(lrs)
    runtime.configure()
    from . import optim, problems
    from .compare import output, protocol
    from .config import TIMESCALES
    from .grids import grid

    problem_axes = {f"problem_options.{k}": parse_list(v, problems.get(problem).options().get(k))
                    for k, v in problem_pairs.items()}
    declared = {n: {**optim.get(n).hparams, **TIMESCALES} for n in names}
    unknown = [k for k in hp_lists if not any(k in d for d in declared.values())]
    if unknown:
        raise UserError(f"unknown optimizer option {unknown[0]!r} for {', '.join(names)}; "
                        f"valid options: {', '.join(sorted(set().union(*declared.values())))}")
    settings = []
    for name in names:
        axes = {**problem_axes, **{f"hparams.{k}": parse_list(v, declared[name][k])
                                   for k, v in hp_lists.items() if k in declared[name]}}
        axes["hparams.lr"] = lr_values
        settings += grid(_base(problem, name, {}, {}, schedules, steps, metric_every, probes, probe_every, dtype,
                               blowup, compile_), axes)
    plan = protocol.Protocol(tuple(settings), tuple(parse_seeds(tune_seeds, "--tune-seeds")),
                             tuple(parse_seeds(score_seeds, "--score-seeds")), metric, target,
                             2.0 if target_factor is None else target_factor, level, tau_max)
    result = protocol.run(plan, out, device=device, force=force)
    click.echo(output.text(result))
    click.echo("wrote " + ", ".join(map(str, output.write(result, save))))


# ----- plot and summary ----------------------------------------------------------------------------
RUNS = click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))


@main.command()
@RUNS
@click.option("--kind", default=None, metavar="KINDS",
              help="Comma-separated rows of panels: lr (final metric vs lr, best starred), curves (metric vs "
                   "step at each best lr), probe (a --probe quantity vs step). Default: lr,curves, or probe "
                   "with --probe.")
@click.option("--metric", default=None, help="Metric to plot: loss (default, when recorded), excess_loss, ...")
@click.option("--best", is_flag=True, help="Use the best value over training instead of the final one.")
@click.option("--probe", default=None, metavar="TABLE:QUANTITY",
              help="A probe quantity, e.g. norms:grad_to_weights, spectra:orthogonality_error (toylab list).")
@click.option("--hue", default="optimizer", show_default=True, help="Config field that colours the lines.")
@click.option("--col", default=None, help="Config field with one column of panels per value.")
@click.option("--row", default=None, help="Config field with one row of panels per value.")
@click.option("--where", multiple=True, metavar="KEY=VALUE",
              help="Keep only runs (and probe rows, e.g. param=W) with this value; repeat for several.")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), default=Path("plot.png"),
              show_default=True, help="Figure file: .png, .svg or .pdf.")
def plot(runs, kind, metric, best, probe, hue, col, row, where, save):
    """Figures of RUNS (a sweep's --out, or run folders) with seeds as bands; no spec needed."""
    runtime.configure()
    from . import figures

    kinds = tuple(k.strip() for k in (kind or ("probe" if probe else "lr,curves")).split(",") if k.strip())
    path = figures.plot(list(runs), save, kinds=kinds, metric=metric, best=best, hue=hue, col=col, row=row,
                        probe=probe, where=split_pairs(where, "--where"))
    click.echo(f"wrote {path}")


@main.command("summary")
@RUNS
@click.option("--metric", default=None, help="Metric that picks the best lr (default: loss, when recorded).")
@click.option("--best", is_flag=True, help="Use the best value over training instead of the final one.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def summary_cmd(runs, metric, best, fmt):
    """Per setting of RUNS, over seeds: mean and ±2 s.e. interval of the final metrics, seeds
    diverged, the best lr per optimizer (flagged at a grid edge) and the run folders."""
    runtime.configure()
    from . import summarize

    click.echo(summarize.format_table(summarize.aggregate(summarize.load(list(runs), finals=True), metric, best), fmt))


# ----- report -------------------------------------------------------------------------------------
@main.command()
@click.argument("reports", nargs=-1, required=True, metavar="CLAIM_OR_SPEC...")
@click.option("--quick", is_flag=True, help="Use each spec's [quick] overrides (few steps, two seeds).")
@click.option("--force", is_flag=True, help="Re-run every run, even those already finished.")
@click.option("--out", default=None, callback=out_folder,
              help="Folder for the reports and their runs (default: next to each spec, e.g. reports/).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to run: auto picks CUDA when present.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Render this many specs at once, each in its own process (one torch thread each).")
@click.option("--extend/--no-extend", default=True, show_default=True,
              help="Extend steps, seeds or lr grids, within each spec's budget, while a check lacks the evidence to decide.")
def report(reports, quick, force, out, device, jobs, extend):
    """Run what the reports need — claims by name (`toylab list`), or spec files such as
    reports/<name>/spec.toml — and write figures, tables, report.md and index.html."""
    runtime.configure()
    from .report import render_all

    timings = render_all(list(reports), out=out, quick=quick, force=force, device=device, progress=True, jobs=jobs,
                         extend=extend)
    for name, seconds in timings:
        click.echo(f"{name:<32} {seconds:7.1f} s")
    click.echo(f"{'total':<32} {sum(s for _, s in timings):7.1f} s")


# ----- show ---------------------------------------------------------------------------------------
@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--plot", "what", default=None, metavar="WHAT",
              help="Draw a table: metrics, norms, spectra or moments, optionally :QUANTITY "
                   "(e.g. spectra:direction, moments:kl_qp).")
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the figure (PNG, PDF, SVG); needed with --plot.")
def show(folder, what, save):
    """Summarise one run, FOLDER = <out>/<config hash> (config, status, final metrics, probe
    tables; --plot draws one), or a folder of runs or a batch (aggregated over seeds, as
    `toylab summary`)."""
    runtime.configure()
    from matplotlib.backend_bases import FigureCanvasBase

    from . import show as one_run, store, summarize

    if folder.is_dir() and not (folder / "config.json").exists():
        click.echo(summarize.format_table(summarize.aggregate(summarize.load([folder], finals=True))))
        if folder.parent.name != store.BATCHES:
            click.echo(f"{folder} is a folder of runs: figures with `toylab plot {folder}`, one run with "
                       f"`toylab show {folder}/<hash>`")
        return
    if what is not None:
        if save is None:
            raise UserError("--plot needs --save FILE.png")
        formats = FigureCanvasBase.get_supported_filetypes()
        if save.suffix.lstrip(".").lower() not in formats:
            raise UserError(f"--save {save}: cannot write {save.suffix or 'a file without a suffix'}; "
                            f"use one of {', '.join('.' + f for f in sorted(formats))}")
    run = store.find_run(folder)
    click.echo(one_run.summary(run))
    if what is not None:
        try:
            click.echo(f"wrote {one_run.plot(run, what, save)}")
        except OSError as e:
            raise UserError(f"--save {save}: {e.strerror or e}") from None


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
    """Learning rates from a list `1e-3,3e-3` or a log grid `LOW:HIGH:N` (N ≥ 2 points, ends > 0)."""
    try:
        if ":" in text:
            low, high, n = text.split(":")
            low, high, n = float(low), float(high), int(n)
        else:
            values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--lr {text!r} is neither a list like 1e-3,3e-3 nor a grid like 1e-4:1e-1:7") from None
    if ":" in text:
        if not (low > 0 and high > 0 and math.isfinite(low) and math.isfinite(high)):
            raise UserError(f"--lr {text!r}: the ends of a log grid LOW:HIGH:N must be finite and > 0")
        if n < 2:
            raise UserError(f"--lr {text!r}: a grid needs N >= 2 points (one learning rate: --lr {low:g})")
        import numpy as np

        values = np.geomspace(low, high, n).tolist()
    if not values or not all(v >= 0 and math.isfinite(v) for v in values):
        raise UserError(f"--lr {text!r}: learning rates must be finite and >= 0")
    return values


def command():
    """The `toylab` console entry point: `main`, then an exit that skips tearing the interpreter
    down. Python's finalization frees torch's and pandas' module objects one by one and runs
    torch's C++ destructors: ≈ 0.4 CPU s a command (a 1-step sweep 1.85 → 1.48 CPU s). Everything
    a command writes is closed and published before `main` returns, so the exit flushes the
    streams, runs the exit handlers (`atexit`: logging, multiprocessing, tqdm) and leaves. A
    non-daemon thread still running, or a stream that cannot be flushed, takes Python's own exit."""
    code = 0
    try:
        main()
    except SystemExit as end:
        code = end.code
    if not (code is None or isinstance(code, int)):
        sys.exit(code)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)
    atexit._run_exitfuncs()
    os._exit(code or 0)


if __name__ == "__main__":
    command()
