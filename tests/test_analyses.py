"""The analyses' shared labels, tables and figure layout (toylab/analyses/__init__.py)."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from toylab import checks
from toylab.analyses import best_table, new_panels, regression_setting, schedule_label, weight_shape, with_schedule


def test_regression_setting_names_condition_outputs_and_batch_and_leaves_other_problems_out():
    frame = pd.DataFrame({"condition_number": [100.0, 1.0, np.nan], "D": [16.0, 4.0, np.nan],
                          "batch_size": [32.0, 0.0, np.nan]})
    got = regression_setting(frame)
    assert got[:2].tolist() == ["κ=100, D=16, batch 32", "κ=1, D=4, full batch"] and pd.isna(got[2])


def test_with_schedule_names_the_lr_schedule_and_the_colour_key():
    frame = pd.DataFrame({"optimizer": ["muon", "sgd"], "lr_schedule": ["cosine:warmup=0.1", None]})
    got = with_schedule(frame)
    assert got["schedule"].tolist() == ["cosine", "constant"] and got["name"].tolist() == ["muon cosine", "sgd"]
    assert with_schedule(frame.drop(columns="lr_schedule"))["name"].tolist() == ["muon", "sgd"]


def test_schedule_label_names_an_amos_schedule_by_form_and_half_life_and_others_by_kind():
    got = [schedule_label(s) for s in ("amos:half_life=207.107,form=quadratic", "amos:form=inverse,half_life=62.5",
                                        "cosine:warmup=10", "constant")]
    assert got == ["amos quadratic T=207", "amos inverse T=62.5", "cosine", "constant"]


def test_weight_shape_counts_the_regression_bias_as_a_row():
    frame = pd.DataFrame({"problem": ["linear_regression", "scale_invariant"], "d": [16.0, np.nan],
                          "D": [4.0, np.nan], "d_in": [np.nan, 32.0], "d_out": [np.nan, 16.0]})
    assert weight_shape(frame) == ["17×4", "16×32"]


def test_best_table_gives_each_groups_best_point_mean_and_std_there_and_its_edge():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame([{"opt": o, "lr": lr, "seed": s, "value": (np.log10(lr) + c) ** 2 + 1 + 0.1 * rng.random()}
                          for o, c in (("a", 2), ("b", 0)) for lr in (0.01, 0.1, 1.0) for s in range(3)])
    best, at = checks.at_best(frame, "lr", ["opt"])
    table = best_table(at, best, ["opt"], "value at best")
    assert table.columns.tolist() == ["opt", "best lr", "value at best", "at_edge"]
    assert table["best lr"].tolist() == [0.01, 1.0] and table["at_edge"].tolist() == [True, True]
    there = frame[(frame["opt"] == "a") & (frame["lr"] == 0.01)]["value"]
    assert table.loc[0, "value at best"] == f"{there.mean():.4g} ± {np.std(there, ddof=1):.2g}"


def test_new_panels_passes_options_to_the_figure():
    fig, axes = new_panels(5, ncols=4, sharey=True)
    assert axes.shape == (2, 4) and axes[0, 0].get_shared_y_axes().joined(axes[0, 0], axes[1, 3])
    plt.close(fig)


@pytest.mark.parametrize("n", [1, 3])
def test_new_panels_never_makes_more_columns_than_panels(n):
    fig, axes = new_panels(n, ncols=4)
    assert axes.shape == (1, n)
    plt.close(fig)
