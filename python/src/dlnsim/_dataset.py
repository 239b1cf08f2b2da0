"""Reading a dlnsim output folder (finished, or live while a run goes) into an xarray.Dataset."""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import time
from typing import Optional

import numpy as np
import pandas as pd
import xarray as xr

from ._errors import DLNSimError
from ._grid import GridLayout, layout

LIVE = ".dlnsim-live"
MARKER = ".dlnsim-output"
STAGING = ".dlnsim-staging"
JOURNAL = ".dlnsim-commit"
CHECKPOINT = "checkpoint.dlnsim"
STATS = ["mean", "std", "sem", "median", "q10", "q90", "n_finite", "n_excluded"]
THRESHOLDED = ("support@", "precision@", "recall@")


def _load(folder: str, name: str, mmap: bool):
    path = os.path.join(folder, name)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as error:
        raise DLNSimError(
            f"{path}: cannot be read as a .npy array ({error}): the folder is incomplete or damaged",
            kind="incomplete_output",
        ) from error


def _read_manifest(folder: str) -> dict:
    path = os.path.join(folder, "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as error:
        raise DLNSimError(f"{path}: not valid JSON ({error}): the folder is half written", kind="incomplete_output")


def check_folder(folder: str) -> str:
    """'finished' or 'live' for a dlnsim output folder; DLNSimError otherwise, saying what is wrong."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise DLNSimError(f"{folder}: no such folder", kind="not_an_output")
    has = lambda name: os.path.exists(os.path.join(folder, name))  # noqa: E731
    if has(os.path.join(STAGING, JOURNAL)):
        raise DLNSimError(
            f"{folder}: its final writes were interrupted (the folder is half old, half new): `dlnsim run --resume "
            f"{folder}` or `dlnsim plot {folder}` completes them",
            kind="incomplete_output",
        )
    if has(LIVE) and running(folder):
        return "live"
    if has("manifest.json"):
        return "finished"
    if has(LIVE):
        raise DLNSimError(
            f"{folder}: its run was stopped before it finished (no manifest.json; the process named in .dlnsim-lock "
            f"is gone): `dlnsim run --resume {folder}` continues it"
            + (" from its checkpoint" if has(CHECKPOINT) else "")
            + "; dlnsim.open(folder, live=True) reads the results it had reached",
            kind="incomplete_output",
        )
    if has(CHECKPOINT):
        raise DLNSimError(
            f"{folder}: a run was interrupted here before it wrote its results (there is a {CHECKPOINT} but no "
            f"manifest.json): `dlnsim run --resume {folder}` continues it",
            kind="incomplete_output",
        )
    if has(MARKER) and not glob.glob(os.path.join(folder, "*.npy")):
        raise DLNSimError(
            f"{folder}: a dlnsim output folder with no results yet (a run starting here has not reached its first "
            f"checkpoint, or one was stopped before it)",
            kind="incomplete_output",
        )
    if has(MARKER) or any(os.path.basename(p) in ("grid.csv", "times.npy") for p in glob.glob(folder + "/*")):
        raise DLNSimError(
            f"{folder}: half written: dlnsim's files are there but manifest.json is missing", kind="incomplete_output"
        )
    raise DLNSimError(f"{folder}: not a dlnsim output folder (no manifest.json)", kind="not_an_output")


def running(folder: str) -> bool:
    """Whether the command that holds the folder is still running: the pid its .dlnsim-lock names is alive (on this
    host; a lock written on another host counts as running)."""
    try:
        with open(os.path.join(folder, ".dlnsim-lock"), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return True
    match = re.match(r"pid (\d+) .* on (\S+) since ", text)
    if not match:
        return True
    if match.group(2) != socket.gethostname() and match.group(2) != os.uname().nodename:
        return True
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_files(folder: str, manifest: dict):
    files = manifest.get("files")
    if not isinstance(files, dict):
        return
    missing = sorted(name for name in files if not os.path.exists(os.path.join(folder, name)))
    if missing:
        listed = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        raise DLNSimError(
            f"{folder}: half written: manifest.json lists {len(missing)} file(s) that are missing ({listed})",
            kind="incomplete_output",
        )


def _attr_value(value):
    if isinstance(value, (str, int, float, bool)) and value is not None:
        return value
    return json.dumps(value)


def _split_threshold(name: str):
    for prefix in THRESHOLDED:
        if name.startswith(prefix):
            try:
                return prefix[:-1], float(name[len(prefix):])
            except ValueError:
                return name, None
    return name, None


def _observable_groups(names):
    """{variable: [(threshold or None, file stem)…]} in the manifest's order."""
    groups: dict = {}
    for name in names:
        base, tau = _split_threshold(name)
        groups.setdefault(base, []).append((tau, name))
    for base in groups:
        if any(t is not None for t, _ in groups[base]):
            groups[base].sort(key=lambda item: item[0])
    return groups


def grid_table(folder: str) -> Optional[pd.DataFrame]:
    path = os.path.join(folder, "grid.csv")
    if not os.path.exists(path):
        return None
    return pd.read_csv(path)


def build_dataset(folder: str, *, live: bool = False, mmap: bool = True) -> xr.Dataset:
    """The Dataset of a (finished or live) folder; raises FileNotFoundError if a file vanishes mid-read."""
    manifest = _read_manifest(folder)
    if not live:
        _check_files(folder, manifest)
    configuration = manifest.get("configuration") or {}
    grid_config = configuration.get("grid") or {}
    table = grid_table(folder)
    times = _load(folder, "times.npy", mmap)
    points = int(manifest.get("grid_points") or times.shape[0])
    grid = layout(table, grid_config, points)
    seeds = int(manifest.get("seeds") or 1)
    checkpoints = times.shape[1]
    gdims = list(grid.dims)

    coords = {name: (list(dims), values) for name, (dims, values) in grid.coords.items()}
    coords["seed"] = (["seed"], int(configuration.get("seed_offset") or 0) + np.arange(seeds))
    coords["checkpoint"] = (["checkpoint"], np.arange(checkpoints))
    coords["t"] = (gdims + ["checkpoint"], grid.arrange(times))
    if os.path.exists(os.path.join(folder, "steps.npy")):
        coords["step"] = (gdims + ["checkpoint"], grid.arrange(_load(folder, "steps.npy", mmap)))

    names = manifest.get("observables")
    if not names:
        skip = {"times", "steps", "status", "evaluations", "rejected", "weights", "layers"}
        skip |= {"weights_t", "layers_t", "activation_time"}
        names = [
            os.path.basename(p)[:-4]
            for p in sorted(glob.glob(os.path.join(folder, "*.npy")))
            if not os.path.basename(p).startswith(("dmft_", "analysis_")) and os.path.basename(p)[:-4] not in skip
        ]
    groups = _observable_groups(names)
    data_vars = {}
    thresholds = None
    for base, members in groups.items():
        if members[0][0] is not None:
            taus = [t for t, _ in members]
            if thresholds is None:
                thresholds = taus
            arrays = [grid.arrange(_load(folder, stem + ".npy", mmap)) for _, stem in members]
            if taus == thresholds:
                data_vars[base] = (gdims + ["threshold", "seed", "checkpoint"], np.stack(arrays, axis=len(gdims)))
                continue
            for (tau, stem), array in zip(members, arrays):
                data_vars[stem] = (gdims + ["seed", "checkpoint"], array)
            continue
        data_vars[base] = (gdims + ["seed", "checkpoint"], grid.arrange(_load(folder, members[0][1] + ".npy", mmap)))
    if thresholds is not None:
        coords["threshold"] = (["threshold"], np.asarray(thresholds))

    extra = {
        "status": ["seed"],
        "evaluations": ["seed", "checkpoint"],
        "rejected": ["seed", "checkpoint"],
        "weights": ["seed", "i"],
        "layers": ["seed", "layer", "i"],
        # record.weights / record.layers / record.activation (manifest "recording" names the checkpoints, τ)
        "weights_t": ["seed", "recorded_checkpoint", "i"],
        "layers_t": ["seed", "recorded_checkpoint", "layer", "i"],
        "activation_time": ["seed", "activation_threshold", "i"],
        # the matrix model (parameterization: matrix)
        "singular_values": ["seed", "checkpoint", "k"],
        "mode_strength": ["seed", "checkpoint", "mode"],
        "theory_mode_strength": ["checkpoint", "mode"],
        "flow_evaluations": ["seed"],
        "final_layers": ["seed", "parameter"],
    }
    if manifest.get("model") == "matrix":  # the matrix model's activation times are per teacher mode
        extra["activation_time"] = ["seed", "activation_threshold", "mode"]
    recording = manifest.get("recording") or {}
    if recording.get("checkpoints"):
        coords["recorded_checkpoint"] = (["recorded_checkpoint"], np.asarray(recording["checkpoints"]))
    if recording.get("thresholds"):
        coords["activation_threshold"] = (["activation_threshold"], np.asarray(recording["thresholds"], dtype=float))
    for name, dims in extra.items():
        if os.path.exists(os.path.join(folder, name + ".npy")):
            array = _load(folder, name + ".npy", mmap)
            if array.ndim == len(dims) + 1 and array.shape[0] == points:
                data_vars[name] = (gdims + dims, grid.arrange(array))

    # The matrix model's analysis arrays with a trailing axis (per mode or per singular value).
    trailing = {
        "analysis_predicted_half_time": ["mode"],
        "analysis_half_time": ["seed", "mode"],
        "analysis_mode_deviation": ["seed", "mode"],
        "analysis_predicted_singular_values": ["seed", "k"],
    }
    for path in sorted(glob.glob(os.path.join(folder, "analysis_*.npy"))):
        name = os.path.basename(path)[:-4]
        array = _load(folder, os.path.basename(path), mmap)
        if name in trailing:
            dims = trailing[name]
            if array.ndim == len(dims) + 1 and array.shape[0] == points and (dims[0] != "seed" or array.shape[1] == seeds):
                data_vars[name] = (gdims + dims, grid.arrange(array))
        elif array.ndim == 2 and array.shape == (points, seeds):
            data_vars[name] = (gdims + ["seed"], grid.arrange(array))
    data_vars.update(_dmft_vars(folder, grid, checkpoints, mmap, prefix="dmft_"))

    stats_path = os.path.join(folder, "stats.csv")
    if os.path.exists(stats_path):
        stats = pd.read_csv(stats_path)
        data_vars.update(_stats_vars(stats, groups, grid, thresholds, checkpoints))

    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    for key, value in manifest.items():
        ds.attrs[key] = _attr_value(value)
    ds.attrs["path"] = os.path.abspath(folder)
    return ds


def _dmft_vars(folder, grid: GridLayout, checkpoints, mmap, prefix):
    out = {}
    gdims = list(grid.dims)
    for path in sorted(glob.glob(os.path.join(folder, "dmft_*.npy"))):
        name = os.path.basename(path)[5:-4]
        if name in ("times", "correlation", "response"):
            continue
        array = _load(folder, os.path.basename(path), mmap)
        if array.ndim != 3 or array.shape[0] != grid.points or array.shape[1] != 2 or array.shape[2] != checkpoints:
            continue
        arranged = grid.arrange(np.asarray(array))
        out[prefix + name] = (gdims + ["checkpoint"], arranged[..., 0, :])
        out[prefix + name + "_se"] = (gdims + ["checkpoint"], arranged[..., 1, :])
    # theory.two_time: C_Δ(t, s) and R_Δ(t, s) on the checkpoints, [grid point, t, s].
    for name in ("correlation", "response"):
        path = os.path.join(folder, "dmft_" + name + ".npy")
        if os.path.exists(path):
            array = _load(folder, os.path.basename(path), mmap)
            if array.ndim == 3 and array.shape == (grid.points, checkpoints, checkpoints):
                out[prefix + name] = (gdims + ["checkpoint", "checkpoint_s"], grid.arrange(np.asarray(array)))
    return out


def _stats_vars(stats: pd.DataFrame, groups, grid: GridLayout, thresholds, checkpoints):
    out = {}
    gdims = list(grid.dims)
    needed = {"point", "observable", "checkpoint"}
    if not needed.issubset(stats.columns):
        return out
    columns = [s for s in STATS if s in stats.columns]
    by_observable = {name: frame for name, frame in stats.groupby("observable", sort=False)}
    for base, members in groups.items():
        stems = [stem for _, stem in members]
        use_threshold = members[0][0] is not None and [t for t, _ in members] == thresholds
        for stat in columns:
            arrays = []
            for stem in stems:
                array = np.full((grid.points, checkpoints), np.nan)
                frame = by_observable.get(stem)
                if frame is not None:
                    p = frame["point"].to_numpy()
                    c = frame["checkpoint"].to_numpy()
                    ok = (p >= 0) & (p < grid.points) & (c >= 0) & (c < checkpoints)
                    array[p[ok], c[ok]] = frame[stat].to_numpy()[ok]
                arrays.append(grid.arrange(array))
            if use_threshold:
                out[f"{base}_{stat}"] = (gdims + ["threshold", "checkpoint"], np.stack(arrays, axis=len(gdims)))
            else:
                for stem, array in zip(stems, arrays):
                    out[f"{stem}_{stat}"] = (gdims + ["checkpoint"], array)
    return out


def open_folder(folder, *, live: Optional[bool] = None, retries: int = 20) -> xr.Dataset:
    folder = os.fspath(folder)
    if live and os.path.isdir(os.path.join(folder, LIVE)):
        state = "live"  # also a run that was stopped: the results it had reached
    else:
        state = check_folder(folder)
    if live is None:
        live = state == "live"
    if live and state != "live":
        raise DLNSimError(f"{folder}: no run is going on here (no {LIVE} folder)", kind="not_live")
    if not live:
        return build_dataset(folder)
    live_folder = os.path.join(folder, LIVE)
    for attempt in range(retries):
        try:
            ds = build_dataset(live_folder, live=True, mmap=False)
        except FileNotFoundError:
            # the live folder is swapped by rename every ~2 s; or the run just finished and removed it
            if not os.path.exists(live_folder) and os.path.exists(os.path.join(folder, "manifest.json")):
                return build_dataset(folder)
            time.sleep(0.05 * (attempt + 1))
            continue
        ds.attrs["path"] = os.path.abspath(folder)
        return ds
    raise DLNSimError(f"{live_folder}: could not be read (it kept changing or vanished)", kind="incomplete_output")


def stats_frame(folder) -> pd.DataFrame:
    return pd.read_csv(os.path.join(os.fspath(folder), "stats.csv"))
