"""docs/claims.md and the claims ledger cannot disagree: the document's verdict tables are the
ledger's headline rows, rewritten by `make reports`."""
import pandas as pd

from toylab import claims_doc
from toylab.report import REPORTS

LEDGER = pd.DataFrame([
    {"claim": "C2", "check": "C2-eq7", "kind": "seed", "report": "r", "predicted": 0.016, "measured": 0.07,
     "ci_low": 0.069, "ci_high": 0.071, "verdict": "fails", "cause": "", "steps": 4000, "seeds": 8,
     "extensions": "steps 2000→4000 (regime not reached)"},
    {"claim": "C2", "check": "C2-eq7/β=0.9", "kind": "seed", "report": "r", "predicted": 0.016, "measured": 0.07,
     "ci_low": 0.069, "ci_high": 0.071, "verdict": "fails", "cause": ""},
    {"claim": "C4", "check": "C4-x", "kind": "hypothesis", "report": "s", "predicted": float("nan"), "measured": 2.0,
     "ci_low": 1.0, "ci_high": 3.0, "verdict": "inconclusive", "cause": "tied"}])


def test_blocks_are_rewritten_from_the_ledger():
    text = "## C2\nprose\n<!-- ledger C2 -->\nstale\n<!-- /ledger -->\n## C4\n<!-- ledger C4 -->\n<!-- /ledger -->\n" \
           "## C5\n<!-- ledger C5 -->\nold\n<!-- /ledger -->\n"
    new = claims_doc.render(text, LEDGER)
    assert "stale" not in new and "old" not in new and new.startswith("## C2\nprose\n")
    assert ("| `C2-eq7` | seed | **fails** | 0.07 [0.069, 0.071] vs 0.016 | 4000 steps, 8 seeds; extended: steps "
            "2000→4000 (regime not reached) | [r](../reports/r/report.md) |") in new
    assert "C2-eq7/β" not in new, "per-group rows stay in the ledger"
    assert "| `C4-x` | hypothesis | **inconclusive** (tied) | 2 [1, 3] |  | [s]" in new  # no runs recorded
    assert "*No check in the ledger.*" in new.split("## C5")[1]
    assert claims_doc.render(new, LEDGER) == new


def test_the_committed_document_agrees_with_the_committed_ledger():
    text = claims_doc.DOC.read_text()
    ledger = pd.read_csv(REPORTS / "claims.csv", keep_default_na=False)
    claims = set(claims_doc.BLOCK.findall(text))
    assert claims >= set(ledger["claim"]), f"claims with checks but no block: {set(ledger['claim']) - claims}"
    assert claims_doc.render(text, ledger) == text, "docs/claims.md is stale: run make reports"
