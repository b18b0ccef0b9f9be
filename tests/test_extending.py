"""Adding a problem by dropping a file: the README's worked example, from $TOYLAB_PROBLEMS."""
import re
from pathlib import Path

from click.testing import CliRunner

from toylab.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"

SPEC = """
title = "Noisy quadratic"
claim = "C1"
question = "Which optimizer settles lowest in a noisy bowl?"
analysis = "learning_curves"
steps = 30
seeds = [0, 1, 2]
[[problems]]
name = "noisy_quadratic"
condition_number = [1.0, 100.0]
[[optimizers]]
name = "adamw"
lr = [1e-2, 1e-1]
[[optimizers]]
name = "sgd"
lr = [1e-1, 1.0]
[quick]
steps = 10
seeds = [0, 1]
"""


def readme_example() -> str:
    section = README.read_text().split("## Add a toy problem", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_a_problem_dropped_into_toylab_problems_is_listed_run_and_reported(tmp_path, monkeypatch):
    folder = tmp_path / "my_problems"
    folder.mkdir()
    (folder / "noisy_quadratic.py").write_text(readme_example())
    monkeypatch.setenv("TOYLAB_PROBLEMS", str(folder))
    cli = CliRunner()

    listed = cli.invoke(main, ["list"])
    assert listed.exit_code == 0 and "noisy_quadratic" in listed.output and "condition_number" in listed.output

    ran = cli.invoke(main, ["run", "noisy_quadratic", "--optimizer", "adamw", "--lr", "1e-2", "--steps", "20",
                            "--out", str(tmp_path / "runs")])
    assert ran.exit_code == 0, ran.output
    assert "loss" in ran.output

    (tmp_path / "specs" / "noisy").mkdir(parents=True)
    (tmp_path / "specs" / "noisy" / "spec.toml").write_text(SPEC)
    reported = cli.invoke(main, ["report", "--quick", "--out", str(tmp_path / "out"),
                                 str(tmp_path / "specs" / "noisy" / "spec.toml")])
    assert reported.exit_code == 0, reported.output
    report = (tmp_path / "out" / "noisy" / "report.md").read_text()
    assert "noisy_quadratic" in report and "## Verdict" in report
    assert (tmp_path / "out" / "noisy" / "curves.png").exists()
