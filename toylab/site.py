"""The reports as a small static site: `index.html` and a `report.html` beside each `report.md`.

    <out>/index.html                 the claims ledger (`<out>/claims.csv`, when present), then per
                                     report its claim, verdict and every figure (click: full size)
    <out>/<name>/report.html         report.md through the `markdown` package (tables extension)

Every link is relative (`<name>/report.html`, `<name>/<figure>.png`, `../index.html`), so the
pages work from a file:// URL and from a repository page alike; nothing depends on the time or
the order files were written, so a re-render is byte-identical.
"""
from __future__ import annotations

import html
import os
import re
from pathlib import Path

import markdown
import pandas as pd

from .store import write_text_atomic

CLAIMS = Path(__file__).resolve().parents[1] / "docs" / "claims.md"  # the claims every report cites


def claims_link(folder: Path) -> str:
    """The relative path from `folder` to docs/claims.md (`../../docs/claims.md` for a report)."""
    return Path(os.path.relpath(CLAIMS, Path(folder).resolve())).as_posix()

VERDICT_COLORS = {"holds": "#2ca02c", "fails": "#d62728", "inconclusive": "#e6a000"}
LEDGER = ["claim", "check", "verdict", "cause", "measured", "interval", "predicted", "rel_error", "tolerance", "n_seeds",
          "report", "quantity", "reason"]  # the estimator is each quantity's tooltip and in its report
STYLE = """
body{font-family:system-ui,sans-serif;max-width:80em;margin:auto;padding:0 1em;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .5em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.verdict{color:#fff;font-weight:bold;text-align:center}
img{max-width:100%;height:auto}figure{margin:1em 0}figcaption{font-size:.9em;color:#444}
.figures{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.figures figure{flex:0 1 auto;max-width:100%;margin:0}
section{border-top:1px solid #ddd;margin:2em 0}nav li{margin:.2em 0}
"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def _clickable_images(text: str) -> str:
    """Wrap each `<img src=X>` in a link to X, so a click opens the figure at full size."""
    return re.sub(r'(<img [^>]*src="([^"]+)"[^>]*>)', r'<a href="\2">\1</a>', text)


def report_page(md_path: Path) -> Path:
    """Write `report.html` beside `md_path`, rendered with markdown's tables extension."""
    md_path = Path(md_path)
    text = md_path.read_text()
    title = text.splitlines()[0].removeprefix("# ") if text else md_path.parent.name
    body = _clickable_images(markdown.markdown(text, extensions=["tables"], output_format="html"))
    nav = '<p><a href="../index.html">← all reports</a> · <a href="report.md">report.md</a></p>'
    out = md_path.with_name("report.html")
    write_text_atomic(out, _page(title, nav + "\n" + body))
    return out


def _number(v) -> str:
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return html.escape(str(v))


def ledger(claims: pd.DataFrame, reports: set[str]) -> str:
    """The claims ledger as HTML: one table of the checks' headline rows, then their per-group rows
    (ids `check/group`) in a folded table; verdicts coloured, intervals as [low, high], each row
    linking to its report page when that report is rendered here."""
    claims = claims.fillna("")
    claims["interval"] = [f"[{_number(lo)}, {_number(hi)}]" if lo != "" and hi != "" else ""
                          for lo, hi in zip(claims.get("ci_low", ""), claims.get("ci_high", ""))]
    columns = [c for c in LEDGER if c in claims.columns]
    grouped = claims["check"].astype(str).str.contains("/", regex=False)
    counts = claims.loc[~grouped, "verdict"].astype(str).str.strip().str.lower().value_counts()
    tally = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICT_COLORS)
    return (f"<h2 id='claims'>Claims ledger</h2><p>{int((~grouped).sum())} checks: {tally}. Interval: 95 % over "
            f"seeds (or the replicates a check names); hover a quantity for its estimator; each row links to "
            f"its report.</p>\n{_ledger_table(claims[~grouped], columns, reports)}\n"
            f"<details><summary>{int(grouped.sum())} per-group rows (one setting of a check each)</summary>\n"
            f"{_ledger_table(claims[grouped], columns, reports)}\n</details>")


def _ledger_table(claims: pd.DataFrame, columns: list[str], reports: set[str]) -> str:
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in columns)
    rows = []
    for _, row in claims.iterrows():
        cells = []
        for c in columns:
            value = row[c]
            if c == "report" and value in reports:
                cells.append(f'<td><a href="{html.escape(value)}/report.html">{html.escape(value)}</a></td>')
            elif c == "verdict":
                color = VERDICT_COLORS.get(str(value).strip().lower(), "#777")
                cells.append(f'<td class="verdict" style="background:{color}">{html.escape(str(value))}</td>')
            elif c in ("predicted", "measured", "rel_error", "tolerance"):
                cells.append(f'<td class="num">{_number(value) if value != "" else ""}</td>')
            elif c == "quantity":
                cells.append(f'<td title="{html.escape(str(row.get("estimator", "")))}">{html.escape(str(value))}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def _report_section(report: Path) -> str:
    lines = report.read_text().splitlines()
    name = report.parent.name
    title = lines[0].removeprefix("# ") if lines else name
    claim = next((line for line in lines if line.startswith("**Claim")), "")
    claim = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", claim)  # links in report.md are relative to its folder
    after = lines[lines.index("## Verdict") + 1:] if "## Verdict" in lines else []
    verdict = next((line for line in after if line.strip()), "")
    figures = [m.groups() for m in (re.match(r"!\[(.*)\]\((.+)\)$", line) for line in lines) if m]
    items = "".join(f'<figure><a href="{name}/{html.escape(src)}"><img src="{name}/{html.escape(src)}" '
                    f'alt="{html.escape(caption)}"></a><figcaption>{html.escape(caption)}</figcaption></figure>'
                    for caption, src in figures)
    inline = lambda text: markdown.markdown(text).removeprefix("<p>").removesuffix("</p>")  # noqa: E731
    return (f'<section id="{name}"><h2><a href="{name}/report.html">{html.escape(title)}</a></h2>'
            f"<p>{inline(claim)}</p><p><b>Verdict.</b> {inline(verdict)}</p>"
            f'<div class="figures">{items}</div></section>')


def write_index(out: Path) -> Path:
    """`<out>/index.html` and every `<out>/*/report.html` (module docstring)."""
    out = Path(out)
    reports = sorted(out.glob("*/report.md"))
    for report in reports:
        report_page(report)
    parts = ["<h1>toylab reports</h1>",
             f"<p>Each report runs one claim of <a href='{claims_link(out)}'>docs/claims.md</a> on a toy problem: settings, "
             "measured numbers, verdict and figures. Click a figure for full size, a title for the report.</p>"]
    claims_csv = out / "claims.csv"
    if claims_csv.exists():
        parts.append(ledger(pd.read_csv(claims_csv, dtype=str, keep_default_na=False), {r.parent.name for r in reports}))
    toc = "".join(f'<li><a href="#{r.parent.name}">{html.escape(r.read_text().splitlines()[0].removeprefix("# "))}</a>'
                  f"</li>" for r in reports)
    parts.append(f"<nav><h2>Reports</h2><ul>{toc}</ul></nav>")
    parts += [_report_section(r) for r in reports]
    write_text_atomic(out / "index.html", _page("toylab reports", "\n".join(parts)))
    return out / "index.html"
