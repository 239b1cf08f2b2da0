"""dlnsim: drive the dlnsim simulator of diagonal linear networks from Python.

    import dlnsim
    run = dlnsim.run("examples/quickstart.yaml", {"training.steps": 200, "seeds": 4})
    run.dataset            # xarray.Dataset: one variable per observable, dims (grid axes…, seed, checkpoint)
    run.stats              # pandas.DataFrame of stats.csv
    dlnsim.open("dlnsim-out/quickstart")   # an existing (or still running) output folder

The package drives the `dlnsim` binary: DLNSIM_BINARY, else the one inside the package, else `dlnsim` on PATH.
"""

from ._api import Run, analyze, open, resume, run, theory
from ._binary import find_binary, version

binary = find_binary  # the path of the dlnsim binary the package uses
from ._errors import DLNSimError
from ._process import DLNSimWarning

__all__ = [
    "run", "open", "resume", "analyze", "theory", "Run", "DLNSimError", "DLNSimWarning", "find_binary", "binary", "version"
]
__version__ = "0.1.0"
