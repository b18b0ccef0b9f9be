"""Reports: every spec renders in quick mode; runs are cached by config hash and resumed."""
from pathlib import Path

import markdown
import pytest
from click.testing import CliRunner

from toylab import claims, store
from toylab.cli import main
from toylab.options import UserError
from toylab.report import load_spec, render_all

SPECS = sorted((Path(__file__).resolve().parent.parent / "reports").glob("*/spec.toml"))

DEMO = """
title = "Demo"
claim = "C13"
question = "Which optimizer fits a small regression fastest?"
analysis = "learning_curves"
steps = 40
seeds = [0, 1, 2]
metric_every = 5
[[problems]]
name = "linear_regression"
d = 4
D = 2
[[optimizers]]
name = "sgd"
lr = [1e-3, 1e-2]
momentum = 0.9
[[optimizers]]
name = "adamw"
lr = 1e-2
betas = [0.95, 0.95]
[quick]
steps = 10
seeds = [0, 1]
"""


def write_spec(folder: Path, text: str = DEMO) -> Path:
    (folder / "demo").mkdir(parents=True, exist_ok=True)
    path = folder / "demo" / "spec.toml"
    path.write_text(text)
    return path


def stamps(runs: Path) -> dict:
    return {name: run.where for name, run in store.runs_in(runs).items()} if runs.exists() else {}


def test_the_repository_has_the_three_study_reports():
    assert {"bias_correction_zero_init", "moment_kl", "muon_linear_regression"} <= set(claims.discover()), \
        "claim files (tests/test_claims.py renders them)"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name)
def test_every_spec_renders_in_quick_mode(spec, tmp_path):
    ((name, seconds),) = render_all([spec], out=tmp_path, quick=True)
    folder = tmp_path / name
    report = (folder / "report.md").read_text()
    assert report.startswith("# ") and "## Verdict" in report and "quick mode" in report
    pngs = sorted(folder.glob("*.png"))
    assert pngs and all(p.with_suffix(".svg").exists() for p in pngs)
    assert all(f"({p.name})" in report for p in pngs), "every figure is embedded in report.md"
    assert (folder / "summary.csv").read_text().strip() and (folder / "summary.md").exists()
    index = (tmp_path / "index.html").read_text()
    assert f'href="{name}/report.html"' in index and (folder / "report.html").exists()
    verdict = report.split("## Verdict")[1].strip().splitlines()[0]
    assert markdown.markdown(verdict).removeprefix("<p>").removesuffix("</p>") in index, \
        "the index quotes each report's verdict"


def test_spec_lists_expand_to_a_product_and_pairs_stay_whole(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    configs = spec.configs()
    assert len(configs) == (2 + 1) * 3
    assert {c.hparams["betas"] for c in configs if c.optimizer == "adamw"} == {(0.95, 0.95)}
    quick = load_spec(write_spec(tmp_path), quick=True)
    assert quick.seeds == [0, 1] and quick.run["steps"] == 10
    two_betas = DEMO.replace("betas = [0.95, 0.95]", "betas = [[0.9, 0.95], [0.95, 0.95]]")
    assert len(load_spec(write_spec(tmp_path, two_betas)).configs()) == (2 + 2) * 3


def test_unknown_spec_option_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="momentun"):
        load_spec(write_spec(tmp_path, DEMO.replace("momentum = 0.9", "momentun = 0.9")))


def test_cached_runs_are_reused_edits_rerun_only_what_changed_and_force_reruns_all(tmp_path):
    path, runs = write_spec(tmp_path / "specs"), tmp_path / "out" / "runs"
    render_all([path], out=tmp_path / "out", quick=True)
    first = stamps(runs)
    assert len(first) == 3 * 2
    render_all([path], out=tmp_path / "out", quick=True)
    assert stamps(runs) == first, "a finished run was recomputed"

    write_spec(tmp_path / "specs", DEMO.replace("lr = [1e-3, 1e-2]", "lr = [1e-3, 1e-2, 1e-1]"))
    render_all([path], out=tmp_path / "out", quick=True)
    second = stamps(runs)
    assert {k: second[k] for k in first} == first and len(second) == 4 * 2, "only the new lr ran"

    render_all([path], out=tmp_path / "out", quick=True, force=True)
    assert all(stamps(runs)[k] != v for k, v in second.items()), "--force re-runs everything"


def test_cli_report_prints_timings_and_bad_specs_are_one_line(tmp_path):
    path = write_spec(tmp_path / "specs")
    result = CliRunner().invoke(main, ["report", "--quick", "--out", str(tmp_path / "out"), str(path)])
    assert result.exit_code == 0, result.output
    assert "demo" in result.output and " s" in result.output
    path.write_text(DEMO.replace('analysis = "learning_curves"', 'analysis = "nope"'))
    result = CliRunner().invoke(main, ["report", "--quick", "--out", str(tmp_path / "out"), str(path)])
    assert result.exit_code == 2 and "unknown analysis 'nope'" in result.output
    assert "Traceback" not in result.output
