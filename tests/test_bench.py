"""`python -m toylab.bench --quick` runs every table and writes them (no timing assertions)."""
import pandas as pd
import pytest

from toylab.bench.__main__ import main


def test_quick_bench_writes_every_table(tmp_path):
    main(["--quick", "--device", "cpu", "--out", str(tmp_path)])
    headline = pd.read_csv(tmp_path / "floor.csv")
    assert (headline["cfg·steps/CPU-s"] > 0).all() and (headline["× torch loop"] > 0).all()
    assert (headline["floor cfg·steps/CPU-s"] > 0).all() and (headline["× per-config floor"] > 0).all()
    cli = pd.read_csv(tmp_path / "cli.csv")
    assert (cli["× torch loop"] > 0).all()
    assert list(cli["options"]) == ["default options", "--metric-every = steps", "--eager"]
    assert set(headline["engine"]) == {"fused", "eager", "fused, metrics every 10"}
    overhead = pd.read_csv(tmp_path / "overhead.csv")
    assert list(overhead["command"]) == ["toylab sweep, K = 1, steps = 1", "toylab sweep, K = 16, steps = 10"]
    assert (overhead["× engine"] > 1).all(), "the whole command costs more than its engine"
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    assert set(sweep["optimizer"]) == {"sgd", "signsgd", "muon"}
    assert (sweep["speedup"] > 0).all() and sweep["device"].str.startswith("cpu").all()
    step = pd.read_csv(tmp_path / "step.csv")
    assert {"toylab adamw fused", "toylab adamw eager", "torch.optim.AdamW fused"} <= set(step["implementation"])
    assert (step["× floor"] > 0).all()
    ns = pd.read_csv(tmp_path / "newton_schulz.csv")
    assert (ns["× floor"] > 0).all()
    report = (tmp_path / "README.md").read_text()
    for section in ["## floor", "## cli", "## overhead", "## sweep", "## step", "## newton_schulz", "## probes", "GPU numbers"]:
        assert section in report


def test_the_gpu_table_runs_on_any_device_and_tables_can_be_chosen(tmp_path):
    """The GPU headline table is device-agnostic (here on the CPU); --tables picks what runs."""
    main(["--quick", "--device", "cpu", "--tables", "gpu", "--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["gpu.csv"]
    gpu = pd.read_csv(tmp_path / "gpu.csv")
    assert list(gpu["K"]) == [16]
    for column in ["cfg·steps/s", "floor cfg·steps/s", "× loop (cuda)", "× loop (cpu, 1 thread)"]:
        assert (gpu[column] > 0).all(), column


def test_an_unknown_table_is_a_one_line_error_naming_the_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--quick", "--device", "cpu", "--tables", "gpu,nope", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unknown table 'nope'" in message and "floor" in message and "gpu" in message
    assert not list(tmp_path.glob("*.csv")), "nothing is computed before the error"
