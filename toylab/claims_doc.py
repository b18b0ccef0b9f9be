"""docs/claims.md's verdicts, written from the ledger so that the two can never disagree.

docs/claims.md states each claim in prose (formula, source, conditions); what the lab measured
is not prose but a block per claim between the markers

    <!-- ledger C4 -->  …  <!-- /ledger -->

holding that claim's headline rows of `reports/claims.csv` (check, kind, verdict, measured
[interval] vs predicted, runs behind it, report). `make reports` rewrites every block from the fresh ledger
(`update`); `tests/test_claims_doc.py` fails when the committed document and ledger differ.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from .store import write_text_atomic

DOC = Path(__file__).resolve().parents[1] / "docs" / "claims.md"
BLOCK = re.compile(r"<!-- ledger (C\d+) -->\n.*?<!-- /ledger -->", re.S)


def _g(value) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "" if math.isnan(x) else f"{x:.4g}"


def block(claim: str, ledger: pd.DataFrame) -> str:
    """The marked block of one claim: a table of its headline checks (per-group rows are in the ledger)."""
    rows = ledger[(ledger["claim"] == claim) & ~ledger["check"].astype(str).str.contains("/", regex=False)]
    lines = [f"<!-- ledger {claim} -->"]
    if rows.empty:
        lines.append("*No check in the ledger.*")
    else:
        lines += ["| check | kind | verdict | measured [95 % interval] vs predicted | runs | report |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for _, r in rows.iterrows():
            interval = f" [{_g(r['ci_low'])}, {_g(r['ci_high'])}]" if _g(r["ci_low"]) else ""
            predicted = f" vs {_g(r['predicted'])}" if _g(r["predicted"]) else ""
            cause = f" ({r['cause']})" if isinstance(r.get("cause"), str) and r["cause"] else ""
            lines.append(f"| `{r['check']}` | {r.get('kind', '')} | **{r['verdict']}**{cause} | "
                         f"{_g(r['measured'])}{interval}{predicted} | {_runs(r)} | [{r['report']}](../reports/{r['report']}/report.md) |")
    return "\n".join(lines + ["<!-- /ledger -->"])


def _runs(r) -> str:
    """The runs behind a check: steps and seeds of the last round, and what the lab extended."""
    if not _g(r.get("steps", "")):
        return ""
    made = r.get("extensions", "")
    extended = f"; extended: {made}" if isinstance(made, str) and made else ""
    return f"{int(r['steps'])} steps, {int(r['seeds'])} seeds{extended}".replace("|", "\\|")


def render(text: str, ledger: pd.DataFrame) -> str:
    """`text` with every marked block rewritten from `ledger`."""
    return BLOCK.sub(lambda m: block(m.group(1), ledger), text)


def update(ledger_csv: Path, doc: Path = DOC) -> None:
    """Rewrite the blocks of `doc` from the ledger at `ledger_csv` (a no-op where `doc` is absent)."""
    if doc.exists():
        text = doc.read_text()
        new = render(text, pd.read_csv(ledger_csv, keep_default_na=False))
        if new != text:
            write_text_atomic(doc, new)
