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


NOISY = {
    "name": "noisy",
    "model": {"parameterization": "matrix", "widths": [5, 4, 3], "init": {"kind": "aligned"}},
    "problem": {"n": 16, "whiten": True, "teacher": {"singular_values": [2, 1]}},
    "training": {"steps": 300, "update": "sgd", "precision": "float64", "gradient_noise": 1e-6,
                 "schedule": {"name": "exponential", "gamma": 0.999}},
    "grid": {"alpha": 0.3, "learning_rate": 0.05, "batch_size": [4, 16], "momentum": [0, 0.5]},
    "seeds": 2,
    "record": {"checkpoints": 6, "activation": [0.5, 1.5], "pl_constant": True},
}


def test_matrix_stochastic_axes_and_per_mode_observables(tmp_path):
    """SGD with momentum, Langevin noise and a schedule: b and β as dimensions, the PL constant per checkpoint, the
    modes' activation times per threshold and mode (the strong mode first; τ = 1.5 above the weak mode's s: NaN)."""
    run = dlnsim.run(NOISY, out=tmp_path / "n", progress=False, device="cpu")
    ds = run.dataset
    assert ds.train_loss.dims == ("batch_size", "momentum", "seed", "checkpoint")
    assert list(ds.batch_size.values) == [4, 16] and list(ds.momentum.values) == [0, 0.5]
    assert ds.pl_constant.dims == ("batch_size", "momentum", "seed", "checkpoint")
    assert bool((ds.pl_constant > 0).all())
    act = ds.activation_time
    assert act.dims == ("batch_size", "momentum", "seed", "activation_threshold", "mode")
    first = act.sel(activation_threshold=0.5)
    # (6 log-spaced checkpoints: the two may land on the same one)
    assert bool((first.isel(mode=0) <= first.isel(mode=1)).all()) and bool((first.isel(mode=0) < first.isel(mode=1)).any())
    assert bool(np.isnan(act.sel(activation_threshold=1.5).isel(mode=1)).all())
    # times.npy: η·Σ_{j<k} 0.999^j at the checkpoint steps.
    steps = ds.step.isel(batch_size=0, momentum=0).values
    expected = 0.05 * (1 - 0.999 ** steps) / (1 - 0.999)
    np.testing.assert_allclose(ds.t.isel(batch_size=0, momentum=0).values, expected, rtol=1e-9)
    assert run.manifest["training"]["schedule"].startswith("exponential")
