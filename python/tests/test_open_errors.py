"""dlnsim.open on finished, foreign and half-written folders; errors from bad input; the missing binary."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import dlnsim


def test_open_existing_folder_is_the_same_dataset(small_run):
    opened = dlnsim.open(small_run.path)
    assert opened.path == small_run.path
    assert opened.dataset.identical(small_run.dataset)
    # lazily loaded: observables are memory-mapped views of the .npy files, not copies
    data = opened.dataset.train_loss.variable._data
    base = getattr(data, "array", data)
    while not isinstance(base, np.memmap) and getattr(base, "base", None) is not None:
        base = base.base
    assert isinstance(base, np.memmap)


def copy_run(small_run, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(small_run.path, target)
    return target


def test_open_a_folder_that_is_not_an_output(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("my notes")
    with pytest.raises(dlnsim.DLNSimError, match="not a dlnsim output folder") as info:
        dlnsim.open(folder)
    assert info.value.kind == "not_an_output"
    with pytest.raises(dlnsim.DLNSimError, match="no such folder"):
        dlnsim.open(tmp_path / "absent")


def test_open_half_written_folders(small_run, tmp_path):
    # a file the manifest lists is missing
    folder = copy_run(small_run, tmp_path, "missing")
    os.remove(folder / "test_error.npy")
    with pytest.raises(dlnsim.DLNSimError, match=r"half written.*test_error\.npy") as info:
        dlnsim.open(folder)
    assert info.value.kind == "incomplete_output"

    # a truncated array
    folder = copy_run(small_run, tmp_path, "truncated")
    with open(folder / "overlap.npy", "r+b") as f:
        f.truncate(200)
    with pytest.raises(dlnsim.DLNSimError, match=r"overlap\.npy.*incomplete or damaged"):
        dlnsim.open(folder)

    # dlnsim's files without the manifest (killed before it wrote it)
    folder = copy_run(small_run, tmp_path, "nomanifest")
    os.remove(folder / "manifest.json")
    with pytest.raises(dlnsim.DLNSimError, match="half written.*manifest.json is missing"):
        dlnsim.open(folder)

    # a manifest cut short
    folder = copy_run(small_run, tmp_path, "badjson")
    text = (folder / "manifest.json").read_text()
    (folder / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(dlnsim.DLNSimError, match="not valid JSON"):
        dlnsim.open(folder)

    # a run that has only just claimed its folder
    folder = tmp_path / "starting"
    folder.mkdir()
    (folder / ".dlnsim-output").write_text("dlnsim 0.1.0 output folder\nfiles:\n")
    with pytest.raises(dlnsim.DLNSimError, match="no results yet"):
        dlnsim.open(folder)

    # an interrupted run: a checkpoint, no results yet
    folder = tmp_path / "interrupted"
    folder.mkdir()
    (folder / "checkpoint.dlnsim").write_bytes(b"\0" * 16)
    with pytest.raises(dlnsim.DLNSimError, match="--resume"):
        dlnsim.open(folder)


def test_unknown_override_key_names_the_key_path(small, tmp_path):
    with pytest.raises(dlnsim.DLNSimError) as info:
        dlnsim.run(small, {"grid.alfa": [0.1]}, out=tmp_path / "bad", progress=False)
    error = info.value
    assert error.key == "grid.alfa"
    assert "grid.alfa" in error.message and "unknown key" in error.message
    assert "(command line)" in error.message
    assert error.returncode == 1
    assert not (tmp_path / "bad" / "manifest.json").exists()


def test_bad_value_names_the_key_path_and_all_issues(small, tmp_path):
    with pytest.raises(dlnsim.DLNSimError) as info:
        dlnsim.run(small, ["grid.alpha=-1", "seeds=0"], out=tmp_path / "bad", progress=False)
    error = info.value
    assert error.kind == "invalid_configuration"
    keys = [issue["key"] for issue in error.issues]
    assert "grid.alpha" in keys and "seeds" in keys
    assert "grid.alpha" in str(error)


def test_bad_value_in_a_dict_config(small, tmp_path):
    small["training"]["steps"] = "many"
    with pytest.raises(dlnsim.DLNSimError) as info:
        dlnsim.run(small, out=tmp_path / "bad", progress=False)
    assert info.value.key == "training.steps"


def test_missing_config_file(tmp_path):
    with pytest.raises(dlnsim.DLNSimError, match="no such configuration file"):
        dlnsim.run(tmp_path / "absent.yaml", progress=False)


def test_override_that_is_not_key_value():
    with pytest.raises(dlnsim.DLNSimError, match="key=value"):
        dlnsim.run({"seeds": 1}, ["seeds"], progress=False)


def test_missing_binary_says_how_to_get_one(tmp_path):
    code = """
import os, dlnsim, dlnsim._binary as b
b._PACKAGED = '/nonexistent/dlnsim'
try:
    dlnsim.run({'seeds': 1})
except dlnsim.DLNSimError as e:
    print('KIND', e.kind)
    print(e)
"""
    env = {k: v for k, v in os.environ.items() if k != "DLNSIM_BINARY"}
    env["PATH"] = str(tmp_path)  # no dlnsim there
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert "KIND binary_not_found" in out.stdout, out.stderr
    assert "no dlnsim binary" in out.stdout
    assert "DLNSIM_BINARY" in out.stdout and "pip install" in out.stdout and "swift build" in out.stdout

    env["DLNSIM_BINARY"] = str(tmp_path / "nothing-here")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert "is not an executable file" in out.stdout, out.stderr
    assert "nothing-here" in out.stdout


def test_binary_search_order(tmp_path):
    """DLNSIM_BINARY first, then the packaged binary, then `dlnsim` on PATH."""
    real = dlnsim.find_binary()
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "dlnsim").symlink_to(real)
    code = """
import dlnsim, dlnsim._binary as b
b._PACKAGED = '/nonexistent/dlnsim'
print('FOUND', dlnsim.binary())
print('VERSION', dlnsim.version())
"""
    env = {k: v for k, v in os.environ.items() if k != "DLNSIM_BINARY"}
    env["PATH"] = str(on_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert f"FOUND {on_path / 'dlnsim'}" in out.stdout, out.stderr
    assert "VERSION 0." in out.stdout
    env["DLNSIM_BINARY"] = real
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert f"FOUND {real}" in out.stdout, out.stderr
