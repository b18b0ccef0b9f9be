"""The reports as a site: byte-identical re-renders, the claims ledger, every figure on the index,
and — in headless Chromium, where installed — no broken image or link on the index and a report."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

from toylab.site import write_index

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--hide-scrollbars", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=10000"]
# Appended to a copy of the page: after load, list images that did not decode and every link.
CHECK = """<script>
window.addEventListener('load', () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  const width = {page: document.documentElement.scrollWidth, window: window.innerWidth};
  const shown = {};  // ledger rows left visible by the verdict filter, per verdict
  if (window.toylabFilter) {
    for (const v of ['holds', 'fails', 'inconclusive']) {
      document.getElementById('verdict-filter').value = v; toylabFilter();
      shown[v] = [...document.querySelectorAll('table.ledger tr[data-verdict]')].filter(r => !r.hidden)
                 .map(r => r.dataset.verdict);
    }
  }
  const pre = document.createElement('pre'); pre.id = 'toylab-check';
  pre.textContent = JSON.stringify({images: document.images.length, broken, links, width, shown});
  document.body.appendChild(pre);
});
</script>"""
LEDGER = """claim,check,report,quantity,predicted,measured,ci_low,ci_high,rel_error,tolerance,verdict,reason,kind
C13,muon beats adamw,muon_linear_regression,excess loss ratio,1,0.5,0.4,0.6,0.5,0.1,holds,,hypothesis
C12,kl small,moment_kl,KL per coordinate,0,2.5,1.5,3.5,,0.1,fails,,seed
C1,rms,no_such_report,RMS(u),0.229,0.23,0.2,0.26,0.004,0.05,inconclusive,interval straddles the tolerance,seed
C1,rms/β=0.9,no_such_report,RMS(u),0.229,0.23,0.2,0.26,0.004,0.05,inconclusive,interval straddles the tolerance,seed
"""


def browser() -> str | None:
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def check_page(page: Path, tmp_path: Path) -> dict:
    """Open `page` in headless Chromium (from a copy beside it that carries `CHECK`)."""
    copy = page.with_name(page.stem + ".check.html")
    copy.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    try:
        dom = subprocess.run([browser(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                              copy.as_uri()], capture_output=True, text=True, timeout=120).stdout
    finally:
        copy.unlink()
    start = dom.index('<pre id="toylab-check">') + len('<pre id="toylab-check">')
    result = json.loads(dom[start:dom.index("</pre>", start)].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    result["missing"] = sorted({link for link in result["links"] if not _exists(link, copy, page)})
    return result


def _exists(link: str, copy: Path, page: Path) -> bool:
    url = urlparse(link)
    if url.scheme != "file":
        return False  # the site links only to its own files
    path = Path(unquote(url.path))
    return path.exists() or path == copy and page.exists()


def site(tmp_path: Path) -> Path:
    """A copy of the repository's reports (and what they may link to) with a claims ledger."""
    shutil.copytree(ROOT / "reports", tmp_path / "reports", ignore=shutil.ignore_patterns("runs", "*.svg"))
    for extra in ("docs", "README.md"):
        if (ROOT / extra).is_dir():
            shutil.copytree(ROOT / extra, tmp_path / extra)
        elif (ROOT / extra).exists():
            shutil.copy(ROOT / extra, tmp_path / extra)
    if not (tmp_path / "reports" / "claims.csv").exists():
        (tmp_path / "reports" / "claims.csv").write_text(LEDGER)
    write_index(tmp_path / "reports")
    return tmp_path / "reports"


def test_index_opens_with_the_ledger_and_shows_every_figure(tmp_path):
    out = site(tmp_path)
    (out / "claims.csv").write_text(LEDGER)
    page = write_index(out).read_text()
    assert page.index("Claims ledger") < page.index("<section")
    summary = page[page.index("<table class='summary'>"):]
    summary = summary[:summary.index("</table>")]
    assert page.index("<table class='summary'>") < page.index("<table class='ledger'>"), "the counts come first"
    for kind, counts in (("seed", (0, 1, 1, 2)), ("hypothesis", (1, 0, 0, 1)), ("total", (1, 1, 1, 3))):
        assert f"<tr><th>{kind}</th>" + "".join(f'<td class="num">{n}</td>' for n in counts) in summary, kind
    assert 'href="muon_linear_regression/report.html">muon_linear_regression</a>' in page
    assert "no_such_report</td>" in page, "a report that is not here is named, not linked"
    assert page.count('<td class="verdict"') == 4 and "#2ca02c" in page and "#d62728" in page and "#e6a000" in page
    assert "0.5 [0.4, 0.6] vs 1" in page and "interval straddles the tolerance" in page
    assert page.count('data-verdict="inconclusive"') == 2, "the per-group row is listed, folded"
    figures = [(r.parent.name, line) for r in out.glob("*/report.md") for line in r.read_text().splitlines()
               if line.startswith("![")]
    assert figures and page.count("<img ") == len(figures), "every figure of every report, not only the first"
    for name, line in figures:
        src = line.rsplit("(", 1)[1].rstrip(")")
        assert f'<a href="{name}/{src}"><img src="{name}/{src}"' in page, "click opens the figure at full size"
    assert 'width="480"' not in page
    report = (out / "muon_linear_regression" / "report.html").read_text()
    assert "<table>" in report and "<h2>Verdict</h2>" in report and 'href="../index.html"' in report
    assert write_index(out).read_text() == page, "re-rendering the index is byte-identical"


@pytest.mark.skipif(browser() is None, reason="no chromium on this machine (apt-get install chromium)")
def test_index_and_a_report_page_have_no_broken_image_or_link_in_chromium(tmp_path):
    out = site(tmp_path)
    index = check_page(out / "index.html", tmp_path)
    assert index["images"] >= len(list(out.glob("*/report.md")))
    assert index["broken"] == [] and index["missing"] == [], index
    assert index["width"]["page"] <= index["width"]["window"] == 1280, "the index fits 1,280 px: no horizontal scroll"
    counts = pd.read_csv(out / "claims.csv")["verdict"].value_counts()
    for verdict, rows in index["shown"].items():
        assert rows == [verdict] * int(counts.get(verdict, 0)), f"the {verdict} filter shows exactly its rows"
    report = check_page(out / "muon_linear_regression" / "report.html", tmp_path)
    assert report["images"] >= 1 and report["broken"] == [] and report["missing"] == [], report


@pytest.mark.skipif(browser() is None, reason="no chromium on this machine (apt-get install chromium)")
def test_the_browser_check_sees_a_broken_image_and_link(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<!doctype html><html><body><img src="missing.png"><a href="nope.html">x</a></body></html>')
    result = check_page(page, tmp_path)
    assert result["images"] == 1 and len(result["broken"]) == 1
    assert [Path(urlparse(m).path).name for m in result["missing"]] == ["nope.html"]


def test_rerendering_a_report_from_the_same_runs_is_byte_identical(tmp_path):
    """Two processes with different string-hash seeds render the same report from the same runs."""
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "TOYLAB_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "toylab.cli", "report", "--quick", "--out", str(tmp_path), "normalized_equilibrium"],
                       check=True, env=env, capture_output=True)
        folder = tmp_path / "normalized_equilibrium"
        outputs.append({p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
                       | {"index.html": (tmp_path / "index.html").read_bytes()})
    assert {"summary.csv", "report.md", "report.html"} <= set(outputs[0])
    assert any(name.endswith(".png") for name in outputs[0])
    different = [name for name in outputs[0] if outputs[0][name] != outputs[1].get(name)]
    assert different == [], f"re-render changed {different}"
