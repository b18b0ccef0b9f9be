"""Reports as reproducible documents (DESIGN.md): spec → batched runs → tidy tables → an
analysis → figures, a summary table and `report.md` per report, and `index.html` over all.

A report is either a claim file (`claims/<name>.py`, `toylab.claims`: its SPEC, SETTINGS and
`analyze`), rendered by `toylab report <name>` into `reports/<name>/`, or a spec file
`<folder>/<name>/spec.toml` naming an analysis module (`toylab/analyses/<analysis>.py`), rendered
next to it. A spec, read with the standard library's `tomllib`:

    title = "Muon vs AdamW on linear regression"
    claim = "C13"                      # the docs/claims.md id
    question = "When does Muon beat AdamW ...?"
    analysis = "learning_curves"       # spec files only: toylab/analyses/<analysis>.py
    steps = 500
    seeds = [0, 1, 2]
    metric_every = 10
    probes = ["spectra"]
    probe_every = 10
    [[problems]]                       # one table per problem; lists expand to a product
    name = "linear_regression"
    condition_number = [1.0, 100.0]
    [[optimizers]]                     # one table per optimizer; lists expand to a product
    name = "muon"
    lr = [1e-3, 1e-2, 1e-1]
    budget = { steps = 4, seeds = 2, grid = 1 }  # how far the lab may extend the runs to decide
                                       # an inconclusive check (`toylab.evidence`; default: not at all)
    [quick]                            # --quick: merged over the spec (few steps, two seeds)
    steps = 20
    seeds = [0, 1]

Any other key sets one of the analysis's declared SETTINGS. The runs are, for each problem and
each optimizer, the product of every list with the seeds. A list given to a pair-valued option
(`betas = [0.95, 0.95]`) is one value; a list of lists expands. Runs live under
`<out>/runs/<hash>` and are cached by config hash (`run_configs`), so editing a spec runs only
what changed and `--force` re-runs. A headline check left inconclusive for want of steps, seeds or
grid points extends the runs within the spec's `budget` and is checked again (`toylab.evidence`).
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import re
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib
import pandas as pd

from . import analyses, checks, claims, claims_doc, evidence, grids, optim, problems, runtime, store
from .config import TIMESCALES, RunConfig
from .experiments import run_configs
from .options import UserError, check_sweep_size, format_value, parse_seeds, warn
from .site import claims_link, write_index  # noqa: F401  (index.html and report.html pages)

REPORTS = claims.FOLDER.parent / "reports"  # where a claim's report goes by default
RUN_FIELDS = ("steps", "metric_every", "probe_every", "dtype")
FIGURE_DPI = 100


@dataclass
class Spec:
    name: str  # the report's folder name: the claim's name, or the spec's folder
    path: Path  # the claim file or spec.toml
    target: str  # what `toylab report` takes to render it: the claim's name or the spec's path
    title: str
    claim: str
    question: str
    analyze: Callable  # analyze(tables, spec) -> analyses.Analysis
    seeds: list[int]
    problems: list[dict]
    optimizers: list[dict]
    run: dict = field(default_factory=dict)  # steps, metric_every, probe_every, dtype, probes
    quick: bool = False
    settings: dict = field(default_factory=dict)  # the analysis's SETTINGS: defaults, overridden by the spec
    budget: evidence.Budget = field(default_factory=evidence.Budget)  # how far its runs may be extended
    longer: dict[int, int] = field(default_factory=dict)  # optimizer table index -> steps factor (`toylab.evidence`)

    def configs(self) -> list[RunConfig]:
        """Every run of the report: problems × optimizers × their lists × seeds.

        A problem table may set its own `steps`; an optimizer table may give
        `schedules = {hparam = spec or [specs]}` and a decay timescale (`tau_iter`, `tau_epoch`,
        docs/claims.md C9) in place of `weight_decay`."""
        out = []
        for prob, (i, opt) in itertools.product(self.problems, enumerate(self.optimizers)):
            prob, opt = dict(prob), dict(opt)
            run = {**self.run, **({"steps": prob.pop("steps")} if "steps" in prob else {})}
            if i in self.longer:  # made longer to decide a check (`toylab.evidence`)
                run["steps"] = run.get("steps", RunConfig.steps) * self.longer[i]
            schedules = opt.pop("schedules", {})
            if not isinstance(schedules, dict):
                raise UserError(f"{opt['name']}: schedules={schedules!r} is not a table like {{ lr = \"cosine\" }}")
            axes = {**grids.axes(prob, problems.get(prob["name"]).options(), "problem_options"),
                    **grids.axes(opt, {**optim.get(opt["name"]).hparams, **TIMESCALES}, "hparams"),
                    **grids.axes({"name": opt["name"], **schedules}, dict.fromkeys(schedules), "schedules"),
                    "seed": self.seeds}
            check_sweep_size(len(out) + grids.size(axes))
            out += grids.grid(RunConfig(problem=prob["name"], optimizer=opt["name"], **run), axes)
        return out

    def varying(self, kind: str = "problems") -> list[str]:
        """Names of the options given as lists (the axes of the report) in problems or optimizers."""
        names = []
        for entry in getattr(self, kind):
            for key, value in entry.items():
                if key != "name" and len(grids.values(value, None)) > 1 and key not in names:
                    names.append(key)
        return names


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


TEXT_KEYS = ("title", "claim", "question")
SPEC_KEYS = (*TEXT_KEYS, "analysis", "problems", "optimizers", "seeds", "probes", "budget", *RUN_FIELDS)


def load(target, quick: bool = False) -> Spec:
    """The report `target` stands for: a claim's name (`toylab.claims`) or the path of a spec file."""
    if isinstance(target, Path) or str(target).endswith(".toml") or os.sep in str(target):
        return load_spec(Path(target), quick)
    claim = claims.get(str(target))
    return _checked(claim.path, lambda: _parse(tomllib.loads(claim.spec), claim.path, claim.name, claim.name,
                                               claim.analyze, claim.settings, quick))


def load_spec(path: Path, quick: bool = False) -> Spec:
    """Read and check a spec file before anything runs: its keys (the analysis's settings
    included), their types, and every run it stands for, through the same validation as the
    command line (`RunConfig.resolve`). Any problem is a one-line `UserError` naming the file."""
    path = Path(path)

    def parse():
        try:
            raw = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: {e}") from None
        if "analysis" not in raw:
            raise UserError("missing key 'analysis'")
        name = raw["analysis"]
        if not isinstance(name, str):
            raise UserError(f"analysis={name!r} is not a string")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise UserError(f"analysis={name!r} is not a module name like learning_curves")
        analyze = analyses.get(name)
        settings = getattr(sys.modules[analyze.__module__], "SETTINGS", {})
        return _parse(raw, path, path.parent.name, _shown(path), analyze, settings, quick)

    return _checked(path, parse)


def _shown(path: Path) -> str:
    """The spec's path as `toylab report` takes it: relative to the repository when inside it."""
    root = REPORTS.parent
    return path.resolve().relative_to(root).as_posix() if path.resolve().is_relative_to(root) else str(path)


def _checked(path: Path, parse) -> Spec:
    try:
        return parse()
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: {e}") from None
    except UserError as e:
        message = str(e)
        raise UserError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None


def _parse(raw: dict, path: Path, name: str, target: str, analyze, settings: dict, quick: bool) -> Spec:
    quick_over = raw.pop("quick", None)
    if not isinstance(quick_over, (dict, type(None))):
        raise UserError("quick must be a table: [quick]")
    if quick and quick_over is None:
        warn(f"{path} has no [quick] table: --quick runs it in full")
    if quick:
        raw = _merge(raw, quick_over or {})
    missing = [k for k in (*TEXT_KEYS, "problems", "optimizers") if k not in raw]
    if missing:
        raise UserError(f"missing key {missing[0]!r}")
    bad = [k for k in TEXT_KEYS if not isinstance(raw[k], str)]
    if bad:
        raise UserError(f"{bad[0]}={raw[bad[0]]!r} is not a string")
    valid = [*SPEC_KEYS, *settings]
    for table in (raw, quick_over or {}):
        unknown = [k for k in table if k not in valid]
        if unknown:
            raise UserError(f"unknown key {unknown[0]!r}; valid keys: {', '.join(valid)}, [quick]")
    required = [k for k, v in settings.items() if v is ... and k not in raw]
    if required:
        raise UserError(f"missing setting {required[0]!r} (the analysis has no default for it)")
    for kind in ("problems", "optimizers"):
        entries = raw[kind]
        if not isinstance(entries, list) or not entries or not all(
                isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries):
            raise UserError(f"{kind} must be one or more [[{kind}]] tables, each with a name")
    probes = raw.pop("probes", [])
    if not isinstance(probes, list) or not all(isinstance(p, str) for p in probes):
        raise UserError(f'probes={probes!r} is not a list of probe names like ["norms"]')
    seeds = parse_seeds(raw.pop("seeds", [0]), what="seeds =")
    budget = _budget(raw.pop("budget", {}))
    run = {k: raw.pop(k) for k in RUN_FIELDS if k in raw}
    run["probes"] = tuple(probes)
    spec = Spec(name=name, path=path, target=target, analyze=analyze, seeds=seeds, run=run, quick=quick, budget=budget,
                settings={**settings, **{k: v for k, v in raw.items() if k in settings}},
                **{k: raw[k] for k in (*TEXT_KEYS, "problems", "optimizers")})
    for config in spec.configs():
        config.resolve()
    return spec


def _budget(raw) -> evidence.Budget:
    """`budget = { steps = 4, seeds = 2, grid = 1 }`: factors on steps and seeds, grid points per side."""
    keys = ("steps", "seeds", "grid")
    if not isinstance(raw, dict) or any(k not in keys for k in raw):
        raise UserError(f"budget={raw!r} is not a table with keys among {', '.join(keys)}, like {{ steps = 4 }}")
    try:
        return evidence.Budget(**raw)
    except (ValueError, TypeError) as e:
        raise UserError(str(e)) from None


# ----- running and reading -------------------------------------------------------------------------
def load_tables(root: Path, configs: list[RunConfig]) -> dict[str, pd.DataFrame]:
    """Every table the runs wrote (metrics and probe tables), tidy, with config columns."""
    runs = store.runs_of(root, (c.hash() for c in configs))
    names = sorted({name for run in runs for name in run.tables})
    return {name: store.with_run_columns(store.read(runs, name), runs) for name in names}


def render(spec: Spec, out: Path, force: bool = False, device: str = "auto", progress: bool = False,
           extend: bool = True) -> Path:
    """Run what is missing, analyse, extend the runs while a check asks for more evidence and the
    spec's budget allows (`toylab.evidence`), and write `<out>/<spec.name>/`: figures, summary,
    checks, report.md."""
    forced = set()

    def render_round(spec: Spec):
        configs = [c.resolve() for c in spec.configs()]
        fresh = [c for c in configs if c.hash() not in forced] if force else []
        forced.update(c.hash() for c in fresh)  # --force re-runs each run once, not once per round
        if fresh:
            run_configs(fresh, out / "runs", device=device, force=True, progress=progress)
        configs = run_configs(configs, out / "runs", device=device, progress=progress)
        tables = load_tables(out / "runs", configs)
        read = set(tables["metrics"]["run"]) if "metrics" in tables and not tables["metrics"].empty else set()
        missing = sorted({c.hash() for c in configs} - read)
        if missing:
            warn(f"{spec.name}: {len(missing)} of {len(configs)} runs have no readable metrics and are left out: "
                 f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        return configs, spec.analyze(tables, spec)

    spec, configs, result, record = evidence.decide(spec, render_round, spec.budget, extend=extend and not spec.quick)
    result.table = sorted_rows(result.table)
    folder = out / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    # every file is written beside its name and renamed into place: a concurrent render of the
    # same spec, or a reader, never sees half a file
    for fig in result.figures:
        save_figure(fig.figure, folder / fig.name)
    with store.atomic_path(folder / "summary.csv") as tmp:
        result.table.to_csv(tmp, index=False)
    with store.atomic_path(folder / "checks.csv") as tmp:
        evidence.annotate(checks.ledger(result.checks, spec.name), record).to_csv(tmp, index=False)
    store.write_text_atomic(folder / "summary.md", markdown_table(result.table) + "\n")
    store.write_text_atomic(folder / "report.md", report_markdown(spec, result, len(configs),
                                                                      claims_link(folder), record))
    return folder


def save_figure(fig: matplotlib.figure.Figure, stem: Path) -> None:
    """PNG (~100 dpi) for reading on the repository page, SVG for editing; no timestamps."""
    with store.atomic_path(stem.with_suffix(".png")) as tmp:
        fig.savefig(tmp, format="png", dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
    with matplotlib.rc_context({"svg.hashsalt": "toylab"}), store.atomic_path(stem.with_suffix(".svg")) as tmp:
        fig.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None})
    matplotlib.pyplot.close(fig)


def sorted_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by every column in turn (numbers by value, the rest as text), so the summary
    table does not depend on the order runs or groups came in."""
    if table.empty:
        return table
    key = lambda col: col if pd.api.types.is_numeric_dtype(col) else col.astype(str)  # noqa: E731
    return table.sort_values(list(table.columns), key=key, kind="mergesort", na_position="last").reset_index(drop=True)


# ----- documents -----------------------------------------------------------------------------------
def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _entry(entry: dict) -> str:
    opts = ", ".join(f"{k}={_show(v)}" for k, v in entry.items() if k != "name")
    return f"`{entry['name']}`" + (f" ({opts})" if opts else "")


def _show(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return format_value(v)


def report_markdown(spec: Spec, result: analyses.Analysis, n_runs: int, claims: str = "../../docs/claims.md",
                    record: evidence.Evidence | None = None) -> str:
    run = {**{"steps": 1000, "metric_every": 10}, **spec.run}
    probes = ", ".join(run["probes"]) or "none"
    lines = [
        f"# {spec.title}", "",
        f"**Claim ({spec.claim}, [docs/claims.md]({claims})).** {spec.question}", "",
        "## Settings", "",
        *[f"- problem: {_entry(p)}" for p in spec.problems],
        *[f"- optimizer: {_entry(o)}" for o in spec.optimizers],
        f"- seeds: {_show(spec.seeds)}; steps: {run['steps']}; metrics every {run['metric_every']} steps; "
        f"probes: {probes}" + (f" every {run['probe_every']} steps" if run["probes"] and "probe_every" in run else ""),
        f"- {n_runs} runs{' (quick mode: few steps, two seeds — not a finding)' if spec.quick else ''}; "
        f"reproduce with `toylab report {'--quick ' if spec.quick else ''}{spec.target}`", "",
        "## Measured", "",
        "| quantity | value |", "| --- | --- |",
        *[f"| {k} | {_cell(v)} |" for k, v in result.numbers.items()], "",
        "## Verdict", "", result.verdict, "",
        *(["## Checks", "", *[f"- {o.sentence()}" for o in result.checks], ""] if result.checks else []),
        *_evidence_lines(spec, record),
        *[line for note in result.notes for line in (note, "")],
        "## Figures", "",
        *[line for f in result.figures for line in (f"![{f.caption}]({f.name}.png)", "", f"*{f.caption}*", "")],
        "## Summary table", "", markdown_table(result.table), "",
    ]
    return "\n".join(lines)


def _evidence_lines(spec: Spec, record: evidence.Evidence | None) -> list[str]:
    """The extensions the lab made to decide the checks, and the budget they came from."""
    if record is None or not record.made:
        return []
    b = spec.budget
    return ["## Evidence extended", "",
            f"Checks left inconclusive for want of steps, seeds or grid points extend the runs, within the "
            f"spec's budget (steps ×{b.steps:g}, seeds ×{b.seeds:g}, {b.grid} grid points per side); "
            f"the settings above are the last round's.", "",
            *[f"- {check}: {'; '.join(steps)}" for check, steps in sorted(record.made.items())], ""]


def write_ledger(out: Path) -> Path:
    """`<out>/claims.csv`: every report's `checks.csv`, ordered by claim number and check id."""
    frames = [pd.read_csv(p) for p in sorted(Path(out).glob("*/checks.csv"))]
    frames = [f for f in frames if not f.empty]
    ledger = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(checks.LEDGER_COLUMNS))
    ledger["_claim"] = ledger["claim"].str.removeprefix("C").astype(int)
    ledger = ledger.sort_values(["_claim", "check", "report"], kind="stable").drop(columns="_claim")
    with store.atomic_path(Path(out) / "claims.csv") as tmp:
        ledger.to_csv(tmp, index=False)
    return Path(out) / "claims.csv"


def render_all(reports: list, out: Path | None = None, quick: bool = False, force: bool = False,
               device: str = "auto", progress: bool = False, jobs: int = 1, extend: bool = True) -> list[tuple[str, float]]:
    """Render every report (claim names or spec paths, `load`); they go to `out` (default: a
    claim's into `reports/` of the repository, a spec's next to it, i.e. its parent's parent).
    With `jobs` > 1 they render in that many processes (run folders and report files are written
    atomically, so they may share runs); `extend`: within each spec's budget (`toylab.evidence`).
    Returns (name, seconds) per report."""
    specs = [load(report, quick=quick) for report in reports]  # every one checked before any runs
    targets = [Path(out) if out is not None else spec.path.resolve().parent.parent if spec.target != spec.name
               else REPORTS for spec in specs]
    tasks = [(spec.target, target, quick, force, device, progress and jobs == 1, extend)
             for spec, target in zip(specs, targets)]
    if jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=runtime.configure) as pool:  # each process: the command's settings
            timings = list(pool.map(_render_one, tasks))
    else:
        timings = [_render_one(task) for task in tasks]
    for target in dict.fromkeys(targets):
        ledger = write_ledger(target)
        if Path(target).resolve() == REPORTS.resolve():  # the repository's reports: docs/claims.md follows
            claims_doc.update(ledger)
        write_index(target)
    return timings


def _render_one(task: tuple) -> tuple[str, float]:
    report, target, quick, force, device, progress, extend = task
    runtime.configure()  # a worker process of `render_all` starts bare
    spec = load(report, quick=quick)
    start = time.perf_counter()
    render(spec, target, force=force, device=device, progress=progress, extend=extend)
    return spec.name, time.perf_counter() - start
