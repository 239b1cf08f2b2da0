"""dlnsim.run, dlnsim.open, dlnsim.analyze, dlnsim.theory and the Run they return."""

from __future__ import annotations

import builtins
import glob
import json
import os
import sys
import warnings
from typing import Optional

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from ._binary import find_binary, supports_json_progress
from ._config import config_source, override_arguments
from ._dataset import _dmft_vars, _load, check_folder, grid_table, open_folder, stats_frame
from ._errors import DLNSimError
from ._grid import layout, table_from_config
from ._process import DLNSimWarning, ProgressBar, error_from, invoke


class Run:
    """A dlnsim output folder: `.dataset` (xarray), `.stats` (pandas), `.figures`, `.manifest`, `.path`.

    Returned by `dlnsim.run` and `dlnsim.open`. The Dataset is read when first asked for (arrays memory-mapped);
    for a run that is still going, each access of `.dataset` re-reads the live files (`.live` says whether it is).
    """

    def __init__(self, path, *, stdout: str = "", events=None, live: Optional[bool] = None):
        self.path = os.path.abspath(os.fspath(path))
        self.stdout = stdout
        self.events = list(events or [])
        self._dataset = None
        self._requested = live
        self.live = live if live is not None else check_folder(self.path) == "live"

    def __repr__(self):
        state = "live" if self.live else "finished"
        return f"<dlnsim.Run {state} {self.path}>"

    @property
    def dataset(self) -> xr.Dataset:
        if self.live:
            ds = open_folder(self.path, live=self._requested)
            if "live" not in ds.attrs:  # it finished meanwhile
                self.live = False
                self._dataset = ds
            return ds
        if self._dataset is None:
            self._dataset = open_folder(self.path, live=False)
        return self._dataset

    def reload(self) -> "Run":
        """Read the folder again (after `dlnsim analyze`, `dlnsim theory`, or while a run goes)."""
        self._dataset = None
        if self._requested is None:
            self.live = check_folder(self.path) == "live"
        return self

    @property
    def manifest(self) -> dict:
        folder = os.path.join(self.path, ".dlnsim-live") if self.live else self.path
        with builtins.open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
            return json.load(f)

    @property
    def stats(self) -> pd.DataFrame:
        """stats.csv: one row per grid point × observable × checkpoint (mean, std, sem, median, q10, q90…)."""
        folder = os.path.join(self.path, ".dlnsim-live") if self.live else self.path
        return stats_frame(folder)

    @property
    def grid(self) -> pd.DataFrame:
        """grid.csv: one row per grid point, every grid parameter."""
        return grid_table(self.path)

    @property
    def figures(self) -> dict:
        """{figure name: path of its .svg}; the PNG of `<figure>.py` is there too once that script has run."""
        return {
            os.path.basename(p)[:-4]: p for p in sorted(glob.glob(os.path.join(self.path, "*.svg")))
        }

    def render(self) -> dict:
        """Run every figure's matplotlib script (`<figure>.py`, beside its SVG) with this Python: each writes
        `<figure>.png` and `<figure>.pdf` (paper size) in the folder. Returns {figure name: path of its PNG}.

        Needs matplotlib (DLNSimError otherwise). A script that fails is reported as a DLNSimWarning, not raised.
        """
        import importlib.util
        import subprocess
        import warnings

        from ._process import DLNSimWarning

        if importlib.util.find_spec("matplotlib") is None:
            raise DLNSimError("rendering the figures needs matplotlib: pip install matplotlib", kind="missing_matplotlib")
        scripts = [p[:-4] + ".py" for p in self.figures.values()]
        scripts = [s for s in scripts if os.path.exists(s)]
        running = [(s, subprocess.Popen([sys.executable, s], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)) for s in scripts]
        pngs = {}
        for script, process in running:
            _, err = process.communicate()
            name = os.path.basename(script)[:-3]
            png = os.path.join(self.path, name + ".png")
            if process.returncode == 0 and os.path.exists(png):
                pngs[name] = png
            else:
                warnings.warn(f"{script} failed (exit {process.returncode}): {err.strip()[-500:]}", DLNSimWarning)
        return pngs

    def analyze(self) -> xr.Dataset:
        """Run `dlnsim analyze` on this folder; the predictions as a Dataset (see dlnsim.analyze)."""
        result = analyze(self.path)
        self.reload()
        return result

    def theory(
        self, *, device: Optional[str] = None, progress: bool = False, allow_unconverged: bool = False
    ) -> xr.Dataset:
        """Run `dlnsim theory` on this run's configuration, into this folder; the DMFT curves as a Dataset (see
        dlnsim.theory for allow_unconverged)."""
        result = theory(self, device=device, progress=progress, allow_unconverged=allow_unconverged)
        self.reload()
        return result


def run(
    config,
    overrides=None,
    *,
    device: Optional[str] = None,
    out=None,
    progress: bool = True,
    save_weights: bool = False,
    force: bool = False,
    extra_args=(),
    render: Optional[bool] = None,
) -> Run:
    """Train the ensemble a configuration describes, with `dlnsim run`, and return its Run.

    config: a dict (the YAML's structure), a YAML string, or the path of a YAML file.
    overrides: a dict of dotted keys ({"grid.alpha": [0.01, 0.1], "seeds": 8}) or a list of "key=value" strings,
        applied to the configuration before it is checked (an unknown key or bad value raises DLNSimError naming
        its key path, as in a file).
    device: "auto" (default), "cpu", "gpu", "opencl" or "opencl:P:D".
    out: the output folder (default: dlnsim-out/<name> in the current directory).
    progress: a tqdm bar (terminal or notebook) fed by dlnsim's progress messages.
    save_weights: also write the final weights (weights.npy, layers.npy); force: write into a folder that is not a
        dlnsim output; extra_args: more arguments for `dlnsim run` (e.g. ["--shard", "1/4"]).
    render: run the figures' matplotlib scripts (PNG and PDF beside each SVG, `Run.render`); None (default): when
        matplotlib is installed, unless the environment sets DLNSIM_RENDER=0.
    """
    source, stdin_text = config_source(config)
    args = ["run", source, *override_arguments(overrides)]
    binary = find_binary()
    json_progress = supports_json_progress(binary)
    if json_progress:
        args += ["--progress", "json"]
    if out is not None:
        args += ["--out", os.fspath(out)]
    if device is not None:
        args += ["--device", device]
    if save_weights:
        args.append("--save-weights")
    if force:
        args.append("--force")
    args += list(extra_args)
    bar = ProgressBar(progress, desc=_name(config, stdin_text))
    try:
        result = invoke(args, stdin_text=stdin_text, on_event=bar)
    finally:
        bar.close(complete=False)
    folder = _output_folder(result, out)
    done = Run(folder, stdout=result.stdout, events=result.events)
    if render is None:
        import importlib.util

        render = os.environ.get("DLNSIM_RENDER", "1") != "0" and importlib.util.find_spec("matplotlib") is not None
    if render:
        done.render()
    return done


def resume(folder, *, device: Optional[str] = None, progress: bool = True) -> Run:
    """Continue a run that was stopped (Ctrl-C, SIGTERM, a kill) from its checkpoint: `dlnsim run --resume DIR`.

    The result is bit-identical to an uninterrupted run. Returns its Run.
    """
    folder = folder.path if isinstance(folder, Run) else os.fspath(folder)
    args = ["run", "--resume", folder]
    if supports_json_progress(find_binary()):
        args += ["--progress", "json"]
    if device is not None:
        args += ["--device", device]
    bar = ProgressBar(progress, desc=os.path.basename(os.path.abspath(folder)))
    try:
        result = invoke(args, on_event=bar)
    finally:
        bar.close(complete=False)
    return Run(_output_folder(result, folder), stdout=result.stdout, events=result.events)


def _name(config, stdin_text) -> str:
    try:
        if stdin_text is not None:
            parsed = yaml.safe_load(stdin_text)
            if isinstance(parsed, dict) and parsed.get("name"):
                return str(parsed["name"])
            return "dlnsim"
        return os.path.splitext(os.path.basename(os.fspath(config)))[0]
    except Exception:  # the name is only the bar's label
        return "dlnsim"


def _output_folder(result, out) -> str:
    for event in reversed(result.events):
        if event.get("event") in ("done", "start") and event.get("out"):
            return event["out"]
    if out is not None:
        return os.fspath(out)
    for line in result.stdout.splitlines():  # older binaries: "wrote … to FOLDER"
        if line.startswith("wrote ") and " to " in line:
            return line.rsplit(" to ", 1)[1].strip()
    raise DLNSimError("dlnsim did not say where it wrote its output; pass out=", kind="internal")


def open(folder, *, live: Optional[bool] = None) -> Run:  # noqa: A001 - the package's public name
    """The Run of an existing output folder; while a run is going there, its live results so far.

    live=None: the live results while a run is going, else the finished files; live=False: only the finished files;
    live=True: the live results, also those of a run that was stopped (interrupted before it finished).
    Raises DLNSimError for a folder that is not a dlnsim output, or is half written.
    """
    run_ = Run(folder, live=live)
    _ = run_.dataset  # check that it reads now, not later
    return run_


def analyze(folder) -> xr.Dataset:
    """Run `dlnsim analyze` on an output folder (or Run); its per-replica predictions as a Dataset.

    Variables (dims: grid axes…, seed): predicted_test_error, asymptotic_test_error, min_l2_test_error,
    min_l1_test_error, predicted_rate, fitted_rate, fitted_rate_points, transition_time, first_jump_time,
    last_jump_time, distance_to_prediction, prediction_converged, limit_pl_constant, and with label noise the
    label_noise_* lasso quantities; with the grid axes, seed, as in the run's Dataset.
    """
    path = folder.path if isinstance(folder, Run) else os.fspath(folder)
    check_folder(path)
    result = invoke(["analyze", path])
    ds = open_folder(path, live=False)
    names = [n for n in ds.data_vars if n.startswith("analysis_")]
    out = ds[names].rename({n: n[len("analysis_"):] for n in names})
    out = out.drop_vars([c for c in ("t", "step") if c in out.coords])
    out.attrs = dict(ds.attrs)
    out.attrs["analyze_output"] = result.stdout
    return out


def theory(
    config,
    overrides=None,
    *,
    device: Optional[str] = None,
    out=None,
    progress: bool = False,
    allow_unconverged: bool = False,
) -> xr.Dataset:
    """Run `dlnsim theory`: the d → ∞ DMFT curves of every grid point, as a Dataset.

    config: a Run or an output folder (the theory of that run's configuration, written into that folder), or a
    configuration (dict, YAML string, path) with optional overrides as for dlnsim.run.
    Variables (dims: grid axes…, checkpoint): train_loss, test_error, overlap, norm_sq (mean of the solves) and
    <observable>_se (their Monte-Carlo standard error); coordinate t. Attributes: dmft_manifest.json (converged,
    iterations, residuals…). A solve that does not converge raises DLNSimError (kind "not_converged", exit status 2)
    after the files are written (its `dmft_*` files stay in the folder); the error's `dataset` holds those curves
    (attribute converged: False, the residuals per grid point in grid_points). allow_unconverged=True returns them
    instead, with a DLNSimWarning. progress=True prints the solver's lines on stderr.
    """
    run_folder = None
    if isinstance(config, Run):
        run_folder = config.path
    elif isinstance(config, (str, os.PathLike)) and os.path.isdir(os.fspath(config)):
        run_folder = os.fspath(config)
    stdin_text = None
    extra = []
    if run_folder is not None:
        if overrides:
            raise DLNSimError("the theory of a run folder takes no overrides", kind="invalid_configuration")
        check_folder(run_folder)
        source = os.path.join(run_folder, "config.yaml")
        out = run_folder if out is None else out
        with builtins.open(os.path.join(run_folder, "manifest.json"), encoding="utf-8") as f:
            grid_config = (json.load(f).get("configuration") or {}).get("grid") or {}
    else:
        source, stdin_text = config_source(config)
        extra = override_arguments(overrides)
        grid_config = _grid_section(source, stdin_text, extra)
    args = ["theory", source, *extra]
    if out is not None:
        args += ["--out", os.fspath(out)]
    if device is not None:
        args += ["--device", device]
    if not progress:
        args.append("--quiet")
    result = invoke(args, stdin_text=stdin_text, on_event=_print_notes if progress else None, ok_codes=(0, 2))
    error = error_from(result) if result.returncode != 0 else None
    if error is not None and error.kind != "not_converged":
        raise error
    folder = os.fspath(out) if out is not None else _theory_folder(result)
    dataset = _theory_dataset(folder, grid_config, result.stdout)
    if error is not None:
        if not allow_unconverged:
            error.dataset = dataset
            raise error
        warnings.warn(str(error), DLNSimWarning, stacklevel=2)
    return dataset


def _print_notes(event):
    if event.get("event") == "note":
        print(event.get("message", ""), file=sys.stderr, flush=True)


def _grid_section(source, stdin_text, overrides) -> dict:
    """The grid section of a configuration with its overrides applied (for the coordinates of the theory's
    Dataset: `dlnsim theory` writes no grid.csv). {} when it cannot be read: the Dataset then has a point axis."""
    try:
        if stdin_text is None:
            with builtins.open(source, encoding="utf-8") as f:
                stdin_text = f.read()
        merged = yaml.safe_load(stdin_text) or {}
        grid = dict(merged.get("grid") or {})
        for item in overrides:
            key, value = item.split("=", 1)
            if key.startswith("grid.") and key.count(".") == 1:
                grid[key[5:]] = yaml.safe_load(value)
        return grid
    except Exception:  # only the coordinates depend on it; dlnsim itself checked the configuration
        return {}


def _theory_folder(result) -> str:
    for line in result.stdout.splitlines():
        if line.startswith("wrote ") and " to " in line:
            return line.rsplit(" to ", 1)[1].strip()
    raise DLNSimError("dlnsim theory did not say where it wrote its files; pass out=", kind="internal")


def _theory_dataset(folder, grid_config, stdout="") -> xr.Dataset:
    manifest_path = os.path.join(folder, "dmft_manifest.json")
    if not os.path.exists(manifest_path):
        raise DLNSimError(f"{folder}: no dmft_manifest.json (not a dlnsim theory output)", kind="not_an_output")
    with builtins.open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    times = _load(folder, "dmft_times.npy", False)
    points, checkpoints = times.shape
    table = grid_table(folder)
    if table is None or len(table) != points:
        table = table_from_config(grid_config, points)
    grid = layout(table, grid_config, points)
    gdims = list(grid.dims)
    coords = {name: (list(dims), values) for name, (dims, values) in grid.coords.items()}
    coords["checkpoint"] = (["checkpoint"], np.arange(checkpoints))
    coords["t"] = (gdims + ["checkpoint"], grid.arrange(times))
    data_vars = _dmft_vars(folder, grid, checkpoints, False, prefix="")
    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    for key, value in manifest.items():
        ds.attrs[key] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
    ds.attrs["path"] = os.path.abspath(folder)
    if stdout:
        ds.attrs["theory_output"] = stdout
    return ds
