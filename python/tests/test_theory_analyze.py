"""dlnsim.analyze and dlnsim.theory return Datasets over the same grid axes as the run."""

import shutil

import numpy as np
import pytest

import dlnsim


def test_analyze_dataset(small_run, tmp_path):
    folder = tmp_path / "a"
    shutil.copytree(small_run.path, folder)
    ds = dlnsim.analyze(folder)
    assert ds.predicted_test_error.dims == ("alpha", "weight_decay", "seed")
    assert list(ds.alpha.values) == [0.1, 1.0]
    raw = np.load(folder / "analysis_predicted_test_error.npy")
    np.testing.assert_array_equal(ds.predicted_test_error.values.reshape(4, 3), raw)
    assert {"asymptotic_test_error", "min_l2_test_error", "transition_time"} <= set(ds.data_vars)
    # the min-ℓ2 limit (λ = 0) is a real number for every replica
    assert np.isfinite(ds.min_l2_test_error.sel(weight_decay=0.0).values).all()
    # the run's Dataset now carries the analysis too
    assert "analysis_predicted_test_error" in dlnsim.open(folder).dataset


def test_theory_from_a_config_with_overrides(tmp_path):
    config = {
        "name": "th",
        "problem": {"d": 100, "delta": 0.5},
        "training": {"steps": 15},
        "grid": {"learning_rate": 0.05},
        "theory": {"paths": 1000, "response_paths": 100},
        "record": {"checkpoints": 4},
    }
    ds = dlnsim.theory(config, {"grid.alpha": [0.1, 1.0]}, out=tmp_path / "th")
    assert ds.test_error.dims == ("alpha", "checkpoint")
    assert list(ds.alpha.values) == [0.1, 1.0]
    raw = np.load(tmp_path / "th" / "dmft_test_error.npy")
    np.testing.assert_array_equal(ds.test_error.values, raw[:, 0, :])
    np.testing.assert_array_equal(ds.test_error_se.values, raw[:, 1, :])
    np.testing.assert_allclose(ds.t.values, np.load(tmp_path / "th" / "dmft_times.npy"))
    assert ds.attrs["converged"] is True
    # at t = 0, w = 0: test error = ρ·(d … scale) identical for both α; later, α = 1 learns faster
    assert ds.test_error.isel(checkpoint=0).values[0] == pytest.approx(ds.test_error.isel(checkpoint=0).values[1])
    assert ds.test_error.sel(alpha=1.0).isel(checkpoint=-1) < ds.test_error.sel(alpha=0.1).isel(checkpoint=-1)


def test_theory_of_a_run_goes_into_its_folder(tmp_path):
    config = {
        "name": "thr",
        "problem": {"d": 100, "delta": 0.5},
        "training": {"steps": 15},
        "grid": {"alpha": [0.5, 1.0], "learning_rate": 0.05},
        "theory": {"paths": 1000, "response_paths": 100},
        "seeds": 2,
        "record": {"checkpoints": 4},
    }
    run = dlnsim.run(config, out=tmp_path / "r", progress=False)
    ds = run.theory()
    assert ds.test_error.dims == ("alpha", "checkpoint")
    run_ds = run.dataset
    assert "dmft_test_error" in run_ds and "dmft_test_error_se" in run_ds
    np.testing.assert_array_equal(run_ds.dmft_test_error.values, ds.test_error.values)
    np.testing.assert_allclose(ds.t.values, run_ds.t.values)


THEORY = {
    "name": "thbad",
    "problem": {"d": 100, "delta": 0.5},
    "training": {"steps": 10},
    "grid": {"alpha": 1.0, "learning_rate": 0.05},
    "theory": {"paths": 500, "response_paths": 50},
    "record": {"checkpoints": 3},
}


def test_theory_bad_override_names_the_key(tmp_path):
    with pytest.raises(dlnsim.DLNSimError) as info:
        dlnsim.theory(THEORY, {"theory.paths": 1}, out=tmp_path / "t")
    assert info.value.key == "theory.paths" and info.value.kind == "invalid_configuration"
    assert "theory.paths" in str(info.value)


def test_theory_that_does_not_converge_raises_after_writing(tmp_path):
    with pytest.raises(dlnsim.DLNSimError) as info:
        dlnsim.theory(THEORY, ["theory.max_iterations=1"], out=tmp_path / "t")
    assert info.value.kind == "not_converged" and info.value.returncode == 2
    assert "did not converge" in str(info.value)
    assert (tmp_path / "t" / "dmft_test_error.npy").exists()
    flagged = info.value.dataset
    assert flagged.attrs["converged"] is False and "test_error" in flagged
    with pytest.warns(dlnsim.DLNSimWarning, match="did not converge"):
        ds = dlnsim.theory(THEORY, ["theory.max_iterations=1"], out=tmp_path / "u", allow_unconverged=True)
    assert ds.attrs["converged"] is False and ds["test_error"].shape == flagged["test_error"].shape
