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


def test_stored_seconds_reads_the_bench_table_by_shape_method_and_steps(tmp_path):
    """Steps as numbers (NaN for the SVD) or as the table writes them; a missing row or table is NaN."""
    from toylab.bench.orthogonalizers import stored_seconds

    path = tmp_path / "orthogonalizers.csv"
    pd.DataFrame({"K×m×n": ["8×17×4", "8×17×4", "16×32×32"], "orthogonalizer": ["newton_schulz", "svd", "svd"],
                  "steps": ["5", "-", "-"], "ms": [2.0, 30.0, 50.0]}).to_csv(path, index=False)
    keys = [("17×4", "newton_schulz", 5.0), ("17×4", "svd", float("nan")), ("17×4", "svd", "-"),
            ("17×4", "newton_schulz", 3)]
    seconds, batch = stored_seconds(keys, path)
    assert seconds[:3] == pytest.approx([2e-3, 3e-2, 3e-2]) and pd.isna(seconds[3]) and batch == "8"
    missing, batch = stored_seconds(keys, tmp_path / "absent.csv")
    assert all(pd.isna(missing)) and batch == "?"
