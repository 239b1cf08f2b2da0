"""The binary's JSON messages: progress events, the tqdm bar, warnings; dlnsim.open on a run that is going."""

import json
import os
import threading
import time
import warnings

import numpy as np
import pytest

import dlnsim


def test_progress_events_without_a_bar(small, tmp_path, capfd):
    run = dlnsim.run(small, out=tmp_path / "p", progress=False)
    captured = capfd.readouterr()
    kinds = [e["event"] for e in run.events]
    assert kinds[-1] == "done" and "start" in kinds and "progress" in kinds
    start = next(e for e in run.events if e["event"] == "start")
    assert start["out"] == run.path or os.path.abspath(start["out"]) == run.path
    assert start["replicas"] == 12 and start["grid_points"] == 4 and start["seeds"] == 3
    progress = [e for e in run.events if e["event"] == "progress"]
    done = [e["done"] for e in progress]
    assert done == sorted(done) and progress[-1]["done"] == progress[-1]["total"]
    assert progress[-1]["fraction"] == 1
    assert progress[-1]["checkpoint"] == progress[-1]["checkpoints"]
    # the median train loss the bar shows is the ensemble's at the last checkpoint
    median = float(np.median(run.dataset.train_loss.isel(checkpoint=-1).values))
    assert progress[-1]["train_loss_median"] == pytest.approx(median, rel=1e-6)
    # nothing on the terminal: no bar, no raw JSON
    assert "%|" not in captured.err and '{"event"' not in captured.err
    assert '{"event"' not in captured.out


def test_progress_bar_in_a_terminal(small, tmp_path, capfd):
    dlnsim.run(small, out=tmp_path / "bar", progress=True)
    err = capfd.readouterr().err
    assert "small" in err and "100%|" in err, err
    assert '{"event"' not in err


def test_warnings_become_python_warnings(small, tmp_path):
    small["problem"]["data"] = "shared"  # pm from a deterministic start on shared data: identical seeds
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = dlnsim.run(small, out=tmp_path / "w", progress=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, dlnsim.DLNSimWarning)]
    assert any("identical" in m for m in messages), messages
    assert any(e["event"] == "warning" for e in run.events)


def test_open_while_the_run_is_going(tmp_path):
    config = {
        "name": "long",
        "problem": {"d": 100},
        "training": {"steps": 12000},
        "grid": {"alpha": [0.01, 0.1, 1.0], "learning_rate": 0.01},
        "seeds": 16,
        "record": {"checkpoints": 60},
    }
    out = tmp_path / "long"
    result = {}

    def background():
        try:
            result["run"] = dlnsim.run(config, out=out, progress=False)
        except BaseException as error:  # reported by the test below
            result["error"] = error

    thread = threading.Thread(target=background)
    thread.start()
    seen = None
    deadline = time.time() + 120
    while time.time() < deadline and thread.is_alive():
        if (out / ".dlnsim-live").exists():
            try:
                opened = dlnsim.open(out)
            except FileNotFoundError:
                continue
            ds = opened.dataset
            if "live" in ds.attrs:
                seen = (opened, ds)
                break
        time.sleep(0.05)
    thread.join()
    assert "error" not in result, result.get("error")
    assert seen is not None, "the run finished before its live folder could be read"
    opened, ds = seen
    live = json.loads(ds.attrs["live"])
    K = ds.sizes["checkpoint"]
    assert live["checkpoints"] == K and 1 <= live["checkpoints_done"] <= K
    assert ds.train_loss.dims == ("alpha", "seed", "checkpoint")
    done = live["checkpoints_done"]
    print("live: checkpoints done", done, "of", K)
    # what is computed is there, and equals the finished run's values; the rest is NaN
    final = result["run"].dataset
    assert final.sizes["checkpoint"] == K
    computed = ds.train_loss.isel(checkpoint=slice(0, done))
    assert np.isfinite(computed.values).all()
    np.testing.assert_array_equal(computed.values, final.train_loss.isel(checkpoint=slice(0, done)).values)
    if done < K:
        assert np.isnan(ds.train_loss.isel(checkpoint=-1).values).all()
    # once finished, the same Run object reads the final files
    assert not (out / ".dlnsim-live").exists()
    assert "live" not in opened.dataset.attrs and not opened.live
    assert np.isfinite(opened.dataset.train_loss.values).all()


INTERRUPTED_RUN = """
import signal, sys
import dlnsim
signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
config = {"name": "long", "problem": {"d": 100}, "training": {"steps": 40000},
          "grid": {"alpha": [0.01, 0.1, 1.0], "learning_rate": 0.01}, "seeds": 4, "record": {"checkpoints": 60}}
try:
    dlnsim.run(config, out=sys.argv[1], progress=False)
    print("FINISHED")
except KeyboardInterrupt:
    print("INTERRUPTED")
"""


def test_ctrl_c_stops_the_run_at_a_checkpoint_and_resume_finishes_it(tmp_path):
    import signal
    import subprocess
    import sys

    out = tmp_path / "interrupted"
    child = subprocess.Popen([sys.executable, "-c", INTERRUPTED_RUN, str(out)], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / ".dlnsim-live").exists():
        time.sleep(0.05)
    assert (out / ".dlnsim-live").exists(), "the run did not start"
    child.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal or "interrupt" in Jupyter sends to Python
    stdout, _ = child.communicate(timeout=120)
    assert "INTERRUPTED" in stdout
    # dlnsim got one SIGINT from the package and stopped after writing its checkpoint, to resume from
    assert (out / "checkpoint.dlnsim").exists()
    assert not (out / "manifest.json").exists()
    # open() says so; live=True reads what it had reached
    with pytest.raises(dlnsim.DLNSimError, match="stopped before it finished.*--resume") as info:
        dlnsim.open(out)
    assert info.value.kind == "incomplete_output"
    reached = dlnsim.open(out, live=True).dataset
    done = json.loads(reached.attrs["live"])["checkpoints_done"]
    assert done >= 1 and np.isfinite(reached.train_loss.isel(checkpoint=slice(0, done)).values).all()
    assert np.isnan(reached.train_loss.isel(checkpoint=-1).values).all()

    # and dlnsim.resume finishes it from its checkpoint
    resumed = dlnsim.resume(out, progress=False)
    assert resumed.path == str(out) and not resumed.live
    ds = resumed.dataset
    assert np.isfinite(ds.train_loss.values).all()
    np.testing.assert_array_equal(
        ds.train_loss.isel(checkpoint=slice(0, done)).values, reached.train_loss.isel(checkpoint=slice(0, done)).values
    )
    assert not (out / "checkpoint.dlnsim").exists() and not (out / ".dlnsim-live").exists()
    assert [e["event"] for e in resumed.events][-1] == "done"
