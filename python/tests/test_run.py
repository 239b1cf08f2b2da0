"""dlnsim.run end to end through the real binary: config forms, overrides, the Dataset against the files."""

import json
import os

import numpy as np
import pandas as pd
import pytest

import dlnsim


def test_dataset_matches_the_files(small_run):
    run = small_run
    ds = run.dataset
    folder = run.path
    grid = pd.read_csv(os.path.join(folder, "grid.csv"))
    manifest = json.load(open(os.path.join(folder, "manifest.json")))

    assert ds.train_loss.dims == ("alpha", "weight_decay", "seed", "checkpoint")
    assert list(ds.alpha.values) == [0.1, 1.0]
    assert list(ds.weight_decay.values) == [0.0, 0.05]
    assert list(ds.seed.values) == [0, 1, 2]
    times = np.load(os.path.join(folder, "times.npy"))
    steps = np.load(os.path.join(folder, "steps.npy"))
    assert ds.sizes["checkpoint"] == times.shape[1]
    assert ds.t.dims == ("alpha", "weight_decay", "checkpoint")

    for name in ["train_loss", "test_error", "overlap", "norm_sq"]:
        raw = np.load(os.path.join(folder, name + ".npy"))
        assert raw.shape == (4, 3, times.shape[1])
        for _, row in grid.iterrows():
            cell = ds[name].sel(alpha=row["alpha"], weight_decay=row["weight_decay"])
            np.testing.assert_array_equal(cell.values, raw[int(row["point"])])
            np.testing.assert_array_equal(
                ds.t.sel(alpha=row["alpha"], weight_decay=row["weight_decay"]).values, times[int(row["point"])]
            )
            np.testing.assert_array_equal(
                ds.step.sel(alpha=row["alpha"], weight_decay=row["weight_decay"]).values, steps[int(row["point"])]
            )
    assert ds.step.values[..., -1].max() == 60

    # thresholds: support@τ files become one variable with a threshold dimension
    assert list(ds.threshold.values) == [0.01, 0.1]
    assert ds.support.dims == ("alpha", "weight_decay", "threshold", "seed", "checkpoint")
    raw = np.load(os.path.join(folder, "support@0.1.npy"))
    np.testing.assert_array_equal(ds.support.sel(threshold=0.1, alpha=1.0, weight_decay=0.05).values, raw[3])
    status = np.load(os.path.join(folder, "status.npy"))
    np.testing.assert_array_equal(ds.status.values.reshape(4, 3), status)

    # the manifest as attributes
    assert ds.attrs["schema_version"] == manifest["schema_version"]
    assert json.loads(ds.attrs["configuration"]) == manifest["configuration"]
    assert ds.attrs["path"] == os.path.abspath(folder)


def test_stats_variables_match_stats_csv(small_run):
    ds = small_run.dataset
    stats = small_run.stats
    assert isinstance(stats, pd.DataFrame)
    assert {"point", "observable", "checkpoint", "median", "q10", "q90", "mean"} <= set(stats.columns)
    row = stats[(stats.observable == "test_error") & (stats.point == 2) & (stats.checkpoint == 4)].iloc[0]
    cell = ds.sel(alpha=row["alpha"], weight_decay=row["weight_decay"]).isel(checkpoint=4)
    for stat in ["mean", "std", "median", "q10", "q90"]:
        assert cell[f"test_error_{stat}"].item() == pytest.approx(row[stat], rel=1e-12)
    # the median over seeds of the raw values is the median stats.csv gives
    assert np.median(cell.test_error.values) == pytest.approx(row["median"], rel=1e-9)
    assert ds.support_median.dims == ("alpha", "weight_decay", "threshold", "checkpoint")
    sup = stats[(stats.observable == "support@0.01") & (stats.point == 1)].sort_values("checkpoint")
    np.testing.assert_allclose(
        ds.support_median.sel(alpha=0.1, weight_decay=0.05, threshold=0.01).values, sup["median"].values
    )


def test_figures_and_repr(small_run):
    figures = small_run.figures
    assert "train_loss" in figures and "test_error" in figures
    assert all(os.path.isfile(p) and p.endswith(".svg") for p in figures.values())
    assert "finished" in repr(small_run)


def test_yaml_string_with_list_overrides(tmp_path):
    text = """
name: fromtext
problem: {d: 20}
training: {steps: 40}
grid: {alpha: 0.5}
seeds: 2
record: {checkpoints: 4}
"""
    run = dlnsim.run(text, ["grid.learning_rate=[0.02,0.05]", "seeds=4"], out=tmp_path / "o", progress=False)
    ds = run.dataset
    assert ds.train_loss.dims == ("learning_rate", "seed", "checkpoint")
    assert list(ds.learning_rate.values) == [0.02, 0.05]
    assert ds.sizes["seed"] == 4
    # t = step·η: the time coordinate depends on the learning rate
    np.testing.assert_allclose(ds.t.sel(learning_rate=0.05).values, 0.05 * ds.step.sel(learning_rate=0.05).values)
    assert ds.t.sel(learning_rate=0.02).values[-1] == pytest.approx(0.8)


def test_path_config_with_dict_overrides(repo, tmp_path):
    path = repo / "examples" / "quickstart.yaml"
    overrides = {"problem.d": 40, "training.steps": 50, "seeds": 2, "grid.alpha": [0.01, 1.0], "record.checkpoints": 5}
    for config in (path, str(path)):
        run = dlnsim.run(config, overrides, out=tmp_path / f"q{type(config).__name__}", progress=False)
        ds = run.dataset
        assert ds.attrs["name"] == "quickstart"
        assert list(ds.alpha.values) == [0.01, 1.0]
        assert ds.sizes["seed"] == 2
        cfg = json.loads(ds.attrs["configuration"])
        assert cfg["problem"]["d"] == 40 and cfg["training"]["steps"] == 50


def test_float_overrides_round_trip(small, tmp_path):
    overrides = {"grid.weight_decay": [1e-5, 2.5e-3], "grid.alpha": 0.3}
    run = dlnsim.run(small, overrides, out=tmp_path / "f", progress=False)
    ds = run.dataset
    assert list(ds.weight_decay.values) == [1e-5, 2.5e-3]
    assert float(ds.alpha) == 0.3  # an axis that does not vary: a scalar coordinate
    assert ds.train_loss.dims == ("weight_decay", "seed", "checkpoint")
    cfg = json.loads(ds.attrs["configuration"])
    assert cfg["grid"]["weight_decay"] == [1e-5, 2.5e-3]


def test_zipped_axes_use_a_point_dimension(small, tmp_path):
    small["grid"] = {
        "alpha": [0.1, 1.0, 2.0],
        "learning_rate": [0.05, 0.02, 0.01],
        "weight_decay": [0.0, 0.01],
        "zip": [["alpha", "learning_rate"]],
    }
    run = dlnsim.run(small, out=tmp_path / "z", progress=False)
    ds = run.dataset
    assert ds.train_loss.dims == ("point", "seed", "checkpoint")
    assert ds.sizes["point"] == 6
    grid = pd.read_csv(os.path.join(run.path, "grid.csv"))
    for axis in ["alpha", "learning_rate", "weight_decay"]:
        np.testing.assert_array_equal(ds[axis].values, grid[axis].values)
    raw = np.load(os.path.join(run.path, "test_error.npy"))
    np.testing.assert_array_equal(ds.test_error.values, raw)
    # pairs, not a product
    pairs = set(zip(ds.alpha.values.tolist(), ds.learning_rate.values.tolist()))
    assert pairs == {(0.1, 0.05), (1.0, 0.02), (2.0, 0.01)}
    np.testing.assert_allclose(ds.t.values, ds.step.values * ds.learning_rate.values[:, None])


def test_more_grid_axes_nest_in_dlnsim_order(small, tmp_path):
    small["problem"] = {"delta": 0.5}
    small["grid"] = {"alpha": [0.1, 1.0], "d": [20, 30], "learning_rate": [0.02, 0.05]}
    run = dlnsim.run(small, out=tmp_path / "g", progress=False)
    ds = run.dataset
    assert ds.train_loss.dims == ("alpha", "learning_rate", "d", "seed", "checkpoint")
    grid = pd.read_csv(os.path.join(run.path, "grid.csv"))
    raw = np.load(os.path.join(run.path, "overlap.npy"))
    for _, row in grid.iterrows():
        cell = ds.overlap.sel(alpha=row["alpha"], learning_rate=row["learning_rate"], d=row["d"])
        np.testing.assert_array_equal(cell.values, raw[int(row["point"])])


def test_single_grid_point(small, tmp_path):
    small["grid"] = {"alpha": 0.5}
    ds = dlnsim.run(small, out=tmp_path / "one", progress=False).dataset
    assert ds.train_loss.dims == ("seed", "checkpoint")
    assert float(ds.alpha) == 0.5


def test_default_output_folder_is_named_by_the_config(small, tmp_path):
    small["name"] = "named"
    small["grid"] = {"alpha": 0.5}
    run = dlnsim.run(small, progress=False)  # the tests run in tmp_path
    assert run.path == str(tmp_path / "dlnsim-out" / "named")
    assert os.path.isfile(os.path.join(run.path, "manifest.json"))


def test_override_values_of_every_kind(small, tmp_path):
    overrides = {
        "grid.learning_rate": "logspace(-2, -1, 3)",  # dlnsim's own list syntax, passed as text
        "problem.teacher": {"density": 0.2, "values": "signs"},  # a mapping
        "training.precision": "float64",
        "record.thresholds": (0.05,),  # a tuple is a list
        "seeds": np.int64(2),  # numpy scalars
        "grid.alpha": np.array([0.5, 1.5]),  # numpy arrays
    }
    ds = dlnsim.run(small, overrides, out=tmp_path / "kinds", progress=False).dataset
    cfg = json.loads(ds.attrs["configuration"])
    np.testing.assert_allclose(ds.learning_rate.values, [0.01, 10**-1.5, 0.1])
    assert cfg["problem"]["teacher"]["density"] == 0.2 and cfg["problem"]["teacher"]["values"] == "signs"
    assert cfg["training"]["precision"] == "float64"
    assert list(ds.threshold.values) == [0.05]
    assert ds.sizes["seed"] == 2 and list(ds.alpha.values) == [0.5, 1.5]


def test_render_writes_png_and_pdf(small, tmp_path):
    """render=True runs each figure's matplotlib script: a PNG and a PDF beside every SVG."""
    run = dlnsim.run(small, out=tmp_path / "r", progress=False, render=True)
    assert set(run.figures) >= {"train_loss", "test_error"}
    for name in run.figures:
        png = tmp_path / "r" / f"{name}.png"
        assert png.exists() and png.stat().st_size > 10_000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / "r" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    assert run.render().keys() == run.figures.keys()
