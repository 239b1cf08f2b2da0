"""record.weights / record.layers / record.activation through dlnsim.run: the Dataset's variables are the files."""

import numpy as np

import dlnsim


def test_recorded_trajectories_and_activation_times(small, tmp_path):
    small["record"].update({"weights": {"every": 2}, "layers": True, "activation": [0.05]})
    run = dlnsim.run(small, out=tmp_path / "rec", progress=False)
    ds = run.dataset
    w = np.load(run.path + "/weights_t.npy")  # [grid point, seed, recorded checkpoint, d]
    assert ds.weights_t.dims == ("alpha", "weight_decay", "seed", "recorded_checkpoint", "i")
    assert ds.layers_t.dims == ("alpha", "weight_decay", "seed", "recorded_checkpoint", "layer", "i")
    assert ds.activation_time.dims == ("alpha", "weight_decay", "seed", "activation_threshold", "i")
    assert np.array_equal(ds.weights_t.values.reshape(w.shape), w)
    checkpoints = ds.recorded_checkpoint.values
    assert checkpoints[0] == 0 and checkpoints[-1] == ds.sizes["checkpoint"] - 1
    assert list(ds.activation_threshold.values) == [0.05]
    # with every checkpoint recorded the activation times are the first time where |w_i| > τ
    small["record"]["weights"] = True
    full = dlnsim.run(small, out=tmp_path / "full", progress=False)
    w = np.load(full.path + "/weights_t.npy")
    t = np.load(full.path + "/times.npy")  # [grid point, checkpoint]
    a = np.load(full.path + "/activation_time.npy")[:, :, 0, :]
    active = np.abs(w) > 0.05
    first = np.where(active.any(axis=2), active.argmax(axis=2), -1)  # [grid point, seed, d]
    at = np.take_along_axis(t[:, None, :, None], np.maximum(first, 0)[:, :, None, :], 2)[:, :, 0, :]
    expected = np.where(first >= 0, at, np.nan)
    assert np.array_equal(a, expected, equal_nan=True)
    assert np.isfinite(a).any()
