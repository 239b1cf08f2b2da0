"""The matrix model (parameterization: matrix) from Python: dlnsim.run, the Dataset's dimensions against the files."""

import os

import numpy as np

import dlnsim

MATRIX = {
    "name": "matrix",
    "model": {"parameterization": "matrix", "widths": [5, 4, 3], "init": {"kind": "aligned"}},
    "problem": {"n": 16, "whiten": True, "teacher": {"singular_values": [2, 1]}},
    "training": {"steps": 200, "precision": "float64"},
    "grid": {"alpha": [0.2, 0.5], "learning_rate": 0.02},
    "seeds": 3,
    "record": {"checkpoints": 5},
}


def test_matrix_run_gives_a_dataset(tmp_path):
    run = dlnsim.run(MATRIX, out=tmp_path / "m", progress=False, device="cpu")
    ds = run.dataset
    folder = run.path
    assert ds.train_loss.dims == ("alpha", "seed", "checkpoint")
    assert list(ds.alpha.values) == [0.2, 0.5]
    assert ds.singular_values.dims == ("alpha", "seed", "checkpoint", "k")
    assert ds.mode_strength.dims == ("alpha", "seed", "checkpoint", "mode")
    assert ds.theory_mode_strength.dims == ("alpha", "checkpoint", "mode")
    raw = np.load(os.path.join(folder, "singular_values.npy"))
    np.testing.assert_array_equal(ds.singular_values.sel(alpha=0.5).values, raw[1])
    # Every mode starts at α^L (L = 2) and the ensemble follows Saxe's curve to O(η).
    np.testing.assert_allclose(ds.mode_strength.isel(checkpoint=0).sel(alpha=0.5).values, 0.25, rtol=1e-12)
    gap = abs(ds.mode_strength.mean("seed") - ds.theory_mode_strength).max()
    assert float(gap) < 0.05
    assert ds.attrs["model"] == "matrix"
    assert list(run.grid.columns[:2]) == ["point", "alpha"]


SENSING = {
    "name": "sensing",
    "model": {"parameterization": "matrix", "widths": [6, 6, 6], "init": {"kind": "identity"}},
    "problem": {"task": "sensing", "operator": "diagonal", "n": 4, "teacher": {"singular_values": [2, 1, 0.5]}},
    "training": {"update": "flow", "horizon": 2000, "precision": "float64", "flow": {"rtol": 1e-10, "atol": 1e-13}},
    "grid": {"alpha": 0.1},
    "seeds": 2,
    "record": {"checkpoints": 4},
}


def test_matrix_sensing_run_and_its_analysis(tmp_path):
    """A commuting sensing run from Python: the task in the attributes, and analyze's predicted singular values beside
    the run's (the flow ends on the predicted limit)."""
    run = dlnsim.run(SENSING, out=tmp_path / "s", progress=False, device="cpu")
    assert run.dataset.attrs["task"] == "sensing" and run.dataset.attrs["operator"] == "diagonal"
    run.analyze()
    ds = run.dataset
    predicted = ds.analysis_predicted_singular_values
    measured = ds.singular_values.isel(checkpoint=-1)
    np.testing.assert_allclose(measured.values, predicted.values, rtol=1e-6, atol=1e-9)
