"""The reports as a small static site: `index.html` and a `report.html` beside each `report.md`.

    <out>/index.html                 a summary of the claims ledger (`<out>/claims.csv`, when present:
                                     verdicts counted by kind), the ledger itself (compact, filterable
                                     by kind and verdict, reasons folded), then per report its claim,
                                     verdict and every figure (click: full size)
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
KINDS = ("seed", "hypothesis", "control")  # whose claim a check tests (reports/claims.csv `kind`)
STYLE = """
body{font-family:system-ui,sans-serif;max-width:80em;margin:auto;padding:0 1em;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .5em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.verdict{color:#fff;font-weight:bold;text-align:center}
table.ledger{width:100%;table-layout:fixed}table.ledger td{overflow-wrap:anywhere;vertical-align:top}
table.ledger col.check{width:22%}table.ledger col.kind{width:9%}table.ledger col.verdict{width:10%}
table.ledger col.value{width:29%}table.ledger col.report{width:17%}table.ledger col.why{width:13%}
details.why summary{cursor:pointer;color:#555}details.why p{margin:.3em 0;font-size:.9em}
.filters label{margin-right:1.5em}
img{max-width:100%;height:auto}figure{margin:1em 0}figcaption{font-size:.9em;color:#444}
.figures{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.figures figure{flex:0 1 auto;max-width:100%;margin:0}
section{border-top:1px solid #ddd;margin:2em 0}nav li{margin:.2em 0}
"""
# Hides the ledger rows whose kind or verdict the two selects exclude (rows carry data-kind, data-verdict).
FILTER = """<script>
function toylabFilter() {
  const kind = document.getElementById('kind-filter').value, verdict = document.getElementById('verdict-filter').value;
  for (const row of document.querySelectorAll('table.ledger tr[data-verdict]')) {
    row.hidden = (kind && row.dataset.kind !== kind) || (verdict && row.dataset.verdict !== verdict);
  }
}
</script>"""


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


def _verdict(value) -> str:
    return str(value).strip().lower()


def summary(claims: pd.DataFrame) -> str:
    """Headline checks counted by kind (rows) and verdict (columns), with a total row."""
    kinds = claims["kind"].astype(str) if "kind" in claims else pd.Series("all", index=claims.index)
    verdicts = claims["verdict"].map(_verdict)
    order = [k for k in KINDS if (kinds == k).any()] + sorted(set(kinds) - set(KINDS))
    head = "".join(f'<th style="color:{c}">{v}</th>' for v, c in VERDICT_COLORS.items())
    rows = []
    for kind in order + (["total"] if len(order) > 1 else []):
        mine = verdicts if kind == "total" else verdicts[kinds == kind]
        cells = "".join(f'<td class="num">{int((mine == v).sum())}</td>' for v in VERDICT_COLORS)
        rows.append(f"<tr><th>{html.escape(kind)}</th>{cells}<td class=\"num\">{len(mine)}</td></tr>")
    return f"<table class='summary'><tr><th>kind</th>{head}<th>checks</th></tr>\n" + "\n".join(rows) + "\n</table>"


def ledger(claims: pd.DataFrame, reports: set[str]) -> str:
    """The claims ledger as HTML: a summary of the headline checks (verdicts by kind), filters by
    kind and verdict, a compact table of the headline rows (check, kind, verdict, measured
    [interval] vs predicted, report), the reason and estimator folded in each row, and the
    per-group rows (ids `check/group`) in a folded table of the same form."""
    claims = claims.fillna("")
    grouped = claims["check"].astype(str).str.contains("/", regex=False)
    kinds = sorted(set(claims["kind"].astype(str))) if "kind" in claims else []
    options = lambda values: "".join(f"<option>{html.escape(v)}</option>" for v in values)  # noqa: E731
    filters = ("<p class='filters'><label>kind <select id='kind-filter' onchange='toylabFilter()'><option value=''>"
               f"all</option>{options(kinds)}</select></label><label>verdict <select id='verdict-filter' "
               f"onchange='toylabFilter()'><option value=''>all</option>{options(VERDICT_COLORS)}</select></label></p>")
    return (f"<h2 id='claims'>Claims ledger</h2><p>{int((~grouped).sum())} checks. Interval: 95 % over seeds (or "
            f"the replicates a check names); each row folds its reason and estimator and links to its report. Kind: "
            f"<i>seed</i>, a claim of the seed documents; <i>hypothesis</i>, the lab's own question; <i>control</i>, "
            f"a check of the machinery.</p>\n{summary(claims[~grouped])}\n{filters}\n{FILTER}\n"
            f"{_ledger_table(claims[~grouped], reports)}\n"
            f"<details><summary>{int(grouped.sum())} per-group rows (one setting of a check each)</summary>\n"
            f"{_ledger_table(claims[grouped], reports)}\n</details>")


def _value(row: pd.Series) -> str:
    """`measured [low, high] vs predicted` (the interval only where there is one)."""
    interval = f" [{_number(row['ci_low'])}, {_number(row['ci_high'])}]" if row.get("ci_low", "") != "" else ""
    predicted = f" vs {_number(row['predicted'])}" if row.get("predicted", "") not in ("", "nan") else ""
    return f"{_number(row['measured'])}{interval}{predicted}"


def _ledger_table(claims: pd.DataFrame, reports: set[str]) -> str:
    columns = ["check", "kind", "verdict", "value", "report", "why"]
    cols = "".join(f'<col class="{c}">' for c in columns)
    head = "".join(f"<th>{c}</th>" for c in ["check", "kind", "verdict", "measured [interval] vs predicted",
                                              "report", "why"])
    rows = []
    for _, row in claims.iterrows():
        verdict, kind, name = _verdict(row["verdict"]), str(row.get("kind", "")), str(row["report"])
        report = (f'<a href="{html.escape(name)}/report.html">{html.escape(name)}</a>' if name in reports
                  else html.escape(name))
        why = "".join(f"<p><b>{label}</b> {html.escape(str(row.get(key, '')))}</p>"
                      for label, key in (("quantity", "quantity"), ("reason", "reason"), ("estimator", "estimator"),
                                         ("cause", "cause")) if str(row.get(key, "")))
        why += _evidence(row)
        rows.append(f'<tr data-kind="{html.escape(kind)}" data-verdict="{html.escape(verdict)}">'
                    f'<td title="{html.escape(str(row.get("quantity", "")))}">{html.escape(str(row["check"]))}</td>'
                    f"<td>{html.escape(kind)}</td>"
                    f'<td class="verdict" style="background:{VERDICT_COLORS.get(verdict, "#777")}">{html.escape(verdict)}'
                    f'</td><td class="num">{_value(row)}</td><td>{report}</td>'
                    f'<td><details class="why"><summary>why</summary>{why}</details></td></tr>')
    return f"<table class='ledger'><colgroup>{cols}</colgroup><tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def _evidence(row) -> str:
    """What the check's runs were (`toylab.evidence`): steps, seeds, grid points, extensions made."""
    if pd.isna(row.get("steps", float("nan"))):
        return ""
    made = row.get("extensions", "")
    return (f"<p><b>runs</b> {int(row['steps'])} steps, {int(row['seeds'])} seeds, {int(row['grid_points'])} grid "
            f"points{'; extended: ' + html.escape(str(made)) if isinstance(made, str) and made else ''}</p>")


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
