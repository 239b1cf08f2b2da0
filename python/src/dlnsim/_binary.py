"""Finding the dlnsim binary: DLNSIM_BINARY, the one inside the package, `dlnsim` on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

from ._errors import DLNSimError

_PACKAGED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "dlnsim")

HOW_TO_GET_ONE = (
    "Install a wheel that contains it (pip install dlnsim-<version>-py3-none-manylinux_…whl, built by "
    "scripts/build-wheel.sh), or install from a checkout with a Swift 6 toolchain (pip install ./python builds it), "
    "or build it yourself (swift build -c release in the dlnsim repository) and set DLNSIM_BINARY=/path/to/dlnsim "
    "or put `dlnsim` on PATH."
)


def find_binary() -> str:
    """The path of the dlnsim binary this package drives.

    Order: the environment variable DLNSIM_BINARY, the binary inside the package (dlnsim/bin/dlnsim), `dlnsim`
    on PATH. Raises DLNSimError (kind "binary_not_found") saying how to get one.
    """
    given = os.environ.get("DLNSIM_BINARY")
    if given:
        if os.path.isfile(given) and os.access(given, os.X_OK):
            return given
        raise DLNSimError(
            f"DLNSIM_BINARY={given} is not an executable file. {HOW_TO_GET_ONE}", kind="binary_not_found"
        )
    if os.path.isfile(_PACKAGED) and os.access(_PACKAGED, os.X_OK):
        return _PACKAGED
    on_path = shutil.which("dlnsim")
    if on_path:
        return on_path
    raise DLNSimError(
        f"no dlnsim binary: DLNSIM_BINARY is not set, this package has none inside, and there is no `dlnsim` on "
        f"PATH. {HOW_TO_GET_ONE}",
        kind="binary_not_found",
    )


@lru_cache(maxsize=None)
def supports_json_progress(binary: str) -> bool:
    """Whether this binary's `run` has --progress json (older binaries print plain text progress)."""
    try:
        out = subprocess.run([binary, "run", "--help"], capture_output=True, text=True, timeout=60)
    except OSError:
        return False
    return "--progress" in out.stdout + out.stderr


def version() -> str:
    """The dlnsim binary's version string."""
    binary = find_binary()
    out = subprocess.run([binary, "--version"], capture_output=True, text=True)
    return out.stdout.strip()
