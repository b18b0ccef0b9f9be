"""What toylab offers, for `toylab list` (text) and `toylab list --json` (tools): problems and
optimizers with their options, probes with the quantities they record, schedules with their
parameters, the decay timescales, and the reports with the claims they test.

Probe quantities are each probe's declared `labels` (tests/test_probes.py checks them against
what the probes record).
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from . import claims, optim, probes, problems, schedules
from .config import TIMESCALES
from .options import Option, format_value

REPORTS = Path(__file__).resolve().parent.parent / "reports"
LABELS = ("quantity", "moments", "reference")  # probe label columns, as `toylab list` names them


def option_dict(options: dict[str, Option]) -> dict:
    return {k: {"default": _plain(o.default), "help": o.help,
                "allowed": o.allowed or [format_value(c) for c in o.choices]} for k, o in options.items()}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def reports(root: Path = REPORTS) -> list[dict]:
    """Every claim file (`toylab.claims`) and every `reports/<name>/spec.toml`: its name, claim ids,
    title, question, and what `toylab report` takes to render it."""
    out = []
    for name, (path, text) in sorted(claims.specs().items()):
        spec = tomllib.loads(text)
        out.append({"name": name, "claim": spec.get("claim", ""), "title": spec.get("title", ""),
                    "question": spec.get("question", ""), "spec": str(path), "report": name})
    for path in sorted(Path(root).glob("*/spec.toml")):
        spec = tomllib.loads(path.read_text())
        out.append({"name": path.parent.name, "claim": spec.get("claim", ""), "title": spec.get("title", ""),
                    "question": spec.get("question", ""), "spec": str(path), "report": str(path)})
    return out


def catalog() -> dict:
    """Everything `toylab list` shows, as plain data."""
    return {
        "problems": {n: {"description": c.description, "options": option_dict(c.options())}
                     for n, c in sorted(problems.discover().items())},
        "optimizers": {n: {"description": optim.get(n).description, "options": option_dict(optim.get(n).hparams)}
                       for n in optim.names()},
        "timescales": option_dict(TIMESCALES),
        "schedules": {kind: option_dict(params) for kind, (params, _) in schedules.KINDS.items()},
        "probes": {p.name: {"description": p.description, "columns": list(p.columns),
                            **{label: sorted(values) for label, values in p.labels.items()}}
                   for p in probes.get(probes.names())},
        "reports": reports(),
    }


def text(data: dict) -> str:
    """The catalog as the indented text of `toylab list`."""
    lines = []

    def options(opts: dict, indent: str = "      "):
        for key, o in opts.items():
            allowed = o["allowed"] if isinstance(o["allowed"], str) else ", ".join(o["allowed"])
            default = format_value(tuple(o["default"]) if isinstance(o["default"], list) else o["default"])
            lines.append(f"{indent}{key:<20} {o['help']} (default {default}{f'; allowed: {allowed}' if allowed else ''})")

    for kind, flag in (("problems", "--problem-opt KEY=VALUE"), ("optimizers", "--opt KEY=VALUE")):
        lines.append(f"{kind.capitalize()} (options: {flag})")
        for name, entry in data[kind].items():
            lines.append(f"  {name}: {entry['description']}")
            options(entry["options"])
        lines.append("")
    lines.append("Decay timescales (an --opt in place of weight_decay: λ = 1/(η τ_iter))")
    options(data["timescales"], "  ")
    lines += ["", "Schedules (--schedule HPARAM=KIND:KEY=VALUE,...)"]
    for kind, params in data["schedules"].items():
        lines.append(f"  {kind}" + ("" if params else ": no parameters"))
        options(params)
    lines += ["", "Probes (--probe NAMES; a table <name>.parquet per run; toylab plot --probe NAME:QUANTITY)"]
    for name, entry in data["probes"].items():
        lines.append(f"  {name}: {entry['description']} (columns: {', '.join(entry['columns'])})")
        for label, heading in zip(LABELS, ("quantities", "moments", "references")):
            if entry.get(label):
                lines.append(f"      {heading:<20} {', '.join(entry[label])}")
    lines += ["", "Reports and claims (toylab report NAME, or toylab report reports/<name>/spec.toml)"]
    for r in data["reports"]:
        lines.append(f"  {r['name']:<28} {r['claim']:<16} {r['title']}")
    if not data["reports"]:
        lines.append(f"  none found under {REPORTS}")
    return "\n".join(lines)
