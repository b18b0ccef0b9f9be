"""`python -m toylab.bench --quick` runs every table and writes them (no timing assertions)."""
import pandas as pd

from toylab.bench.__main__ import main


def test_quick_bench_writes_every_table(tmp_path):
    main(["--quick", "--device", "cpu", "--out", str(tmp_path)])
    headline = pd.read_csv(tmp_path / "floor.csv")
    assert (headline["cfg·steps/CPU-s"] > 0).all() and (headline["× torch loop"] > 0).all()
    assert (headline["floor cfg·steps/CPU-s"] > 0).all()
    cli = pd.read_csv(tmp_path / "cli.csv")
    assert (cli["× torch loop"] > 0).all()
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    assert set(sweep["optimizer"]) == {"sgd", "signsgd", "muon"}
    assert (sweep["speedup"] > 0).all() and sweep["device"].str.startswith("cpu").all()
    step = pd.read_csv(tmp_path / "step.csv")
    assert {"toylab adamw", "torch.optim.AdamW fused"} <= set(step["implementation"])
    assert (step["× floor"] > 0).all()
    ns = pd.read_csv(tmp_path / "newton_schulz.csv")
    assert (ns["× floor"] > 0).all()
    report = (tmp_path / "README.md").read_text()
    for section in ["## floor", "## cli", "## sweep", "## step", "## newton_schulz", "## probes", "GPU numbers"]:
        assert section in report
