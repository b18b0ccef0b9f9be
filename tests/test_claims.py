"""Every claim file honours the claim API (toylab/claims.py), and a claim dropped into
$TOYLAB_CLAIMS — the README's worked example — is listed, rendered and added to the ledger."""
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from toylab import checks, claims, report
from toylab.cli import main

NAMES = sorted(claims.discover())
README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_repository_has_claim_files():
    assert {"adam_update_rms", "ema_timescale", "bias_correction_zero_init"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_claim_declares_its_runs_settings_and_analysis(name):
    claim = claims.get(name)
    assert claim.module.__doc__ and re.search(r"\bC\d+\b", claim.module.__doc__), "the docstring names its claim"
    spec = report.load(name)
    assert spec.name == name and spec.target == name and spec.configs()
    assert set(spec.settings) == set(claim.settings) and ... not in spec.settings.values()
    assert report.load(name, quick=True).quick


@pytest.mark.parametrize("name", NAMES)
def test_a_claim_renders_in_quick_mode_into_ledger_rows(name, tmp_path):
    report.render_all([name], out=tmp_path, quick=True)
    rows = pd.read_csv(tmp_path / name / "checks.csv", keep_default_na=False)
    text = (tmp_path / name / "report.md").read_text()
    assert f"toylab report --quick {name}" in text and "## Verdict" in text
    declared = set(re.findall(r"C\d+", report.load(name).claim))
    assert len(rows) and set(rows["claim"]) <= declared
    assert set(rows["verdict"]) <= set(checks.VERDICTS)
    assert ((rows["verdict"] == "inconclusive") == rows["cause"].isin(checks.CAUSES)).all(), "a cause iff inconclusive"
    heads = rows[~rows["check"].str.contains("/")]
    groups = rows[rows["check"].str.contains("/")]
    for head in heads.itertuples():
        mine = groups[groups["check"].str.startswith(head.check + "/")]
        if len(mine):  # a headline quotes one of its groups, with that group's numbers
            quoted = mine[mine["check"] == f"{head.check}/{head.decided_by}"]
            assert len(quoted) == 1 and quoted["measured"].item() == head.measured
    assert set(pd.read_csv(tmp_path / "claims.csv")["report"]) == {name}


def readme_example() -> str:
    section = README.read_text().split("## Add a claim", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_a_claim_dropped_into_toylab_claims_is_listed_rendered_and_in_the_ledger(tmp_path, monkeypatch):
    folder = tmp_path / "my_claims"
    folder.mkdir()
    (folder / "momentum_wins.py").write_text(readme_example())
    monkeypatch.setenv("TOYLAB_CLAIMS", str(folder))
    cli = CliRunner()
    listed = cli.invoke(main, ["list"])
    assert listed.exit_code == 0 and "momentum_wins" in listed.output and "Momentum on ill-conditioned" in listed.output
    out = tmp_path / "out"
    reported = cli.invoke(main, ["report", "--quick", "--out", str(out), "momentum_wins"])
    assert reported.exit_code == 0, reported.output
    ledger = pd.read_csv(out / "claims.csv", keep_default_na=False)
    assert ledger["check"].tolist() == ["C13-momentum"] and ledger["verdict"].item() in checks.VERDICTS
    assert (out / "momentum_wins" / "lr_grid.png").exists()


def test_an_unknown_or_broken_claim_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "broken.py").write_text("SPEC = 1 / 0\n")
    monkeypatch.setenv("TOYLAB_CLAIMS", str(tmp_path))
    result = CliRunner().invoke(main, ["report", "--quick", "--out", str(tmp_path / "out"), "nope"])
    assert result.exit_code == 2 and "unknown claim 'nope'" in result.output and "adam_update_rms" in result.output
    assert "broken.py failed to load (ZeroDivisionError" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("name", NAMES)
def test_a_listing_reads_each_claims_spec_as_loading_it_gives(name):
    path, spec = claims.specs()[name]
    assert path == claims.get(name).path and spec == claims.get(name).spec


def test_a_plain_string_spec_is_listed_without_running_the_file_and_a_computed_one_by_running_it(tmp_path,
                                                                                                monkeypatch):
    (tmp_path / "plain.py").write_text('SPEC = """title = \'plain\'"""\nraise RuntimeError("not run")\n')
    (tmp_path / "computed.py").write_text('SPEC = "title = " + repr("computed")\nanalyze = print\n')
    (tmp_path / "rebound.py").write_text('SPEC = "title = \'first\'"\nSPEC += "\\nclaim = \'C1\'"\nanalyze = print\n')
    monkeypatch.setenv("TOYLAB_CLAIMS", str(tmp_path))
    monkeypatch.setattr(claims, "BROKEN", {})
    listed = claims.specs()
    assert listed["plain"][1] == "title = 'plain'"
    assert listed["computed"][1] == "title = 'computed'"
    assert listed["rebound"][1] == "title = 'first'\nclaim = 'C1'"


def test_listing_imports_no_plotting_library():
    """`toylab list` runs on the libraries it needs: matplotlib, seaborn and scipy.stats (≈ 1.4 CPU s
    of imports) wait for the first figure or interval."""
    code = ("import sys; from toylab.cli import main; main(['list'], standalone_mode=False); "
            "print(sorted(m for m in ('matplotlib', 'seaborn', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"
