"""Build hook: puts the dlnsim binary inside the package (dlnsim/bin/dlnsim).

- DLNSIM_BINARY=/path/to/dlnsim: copy that binary (no Swift build).
- otherwise, from a checkout of the dlnsim repository (this folder is its python/): build the portable binary at
  the repository root with `DLNSIM_TARGET_CPU=haswell swift build -c release --static-swift-stdlib
  --scratch-path .build-portable` and copy it.
- DLNSIM_NO_BINARY=1: no binary in the package (it then uses DLNSIM_BINARY or `dlnsim` on PATH at run time).

With a binary inside, the wheel is platform specific: its tag is manylinux_<major>_<minor>_<arch>, from the
highest GLIBC_ symbol version the binary needs (read with `objdump -T`), or DLNSIM_PLAT_NAME when set.
"""

import os
import platform
import re
import shutil
import stat
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

try:  # setuptools ≥ 70.1 has its own; older ones use the wheel package's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:  # pragma: no cover - wheel is a build requirement
        bdist_wheel = None


def _want_binary():
    return os.environ.get("DLNSIM_NO_BINARY", "") in ("", "0", "false")


def _built_binary():
    """The binary to package: DLNSIM_BINARY, or the portable build of the checkout."""
    given = os.environ.get("DLNSIM_BINARY")
    if given:
        if not os.path.isfile(given):
            sys.exit(f"DLNSIM_BINARY={given}: no such file")
        return given
    if not os.path.isfile(os.path.join(REPO, "Package.swift")):
        sys.exit(
            "dlnsim: no binary to package. Build from a checkout of the dlnsim repository (pip install ./python), "
            "or set DLNSIM_BINARY to a built dlnsim binary, or DLNSIM_NO_BINARY=1 to use `dlnsim` on PATH."
        )
    if shutil.which("swift") is None:
        sys.exit(
            "dlnsim: building the binary needs a Swift 6 toolchain (`swift` on PATH, from swift.org); or set "
            "DLNSIM_BINARY to a built dlnsim binary."
        )
    env = dict(os.environ)
    env.setdefault("DLNSIM_TARGET_CPU", "haswell")
    cmd = ["swift", "build", "-c", "release", "--static-swift-stdlib", "--scratch-path", ".build-portable"]
    print("dlnsim: building the binary:", "DLNSIM_TARGET_CPU=" + env["DLNSIM_TARGET_CPU"], " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    return os.path.join(REPO, ".build-portable", "release", "dlnsim")


def glibc_platform_tag(binary):
    """manylinux_<major>_<minor>_<arch> from the highest GLIBC_x.y version in the binary's dynamic symbols."""
    out = subprocess.run(["objdump", "-T", binary], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(p) for p in m.split(".")) for m in re.findall(r"GLIBC_(\d+\.\d+(?:\.\d+)?)", out)}
    top = max(versions) if versions else (2, 17)
    top = max(top[:2], (2, 17))
    return f"manylinux_{top[0]}_{top[1]}_{platform.machine()}"


class BuildPyWithBinary(build_py):
    def run(self):
        super().run()
        if not _want_binary():
            return
        source = _built_binary()
        target_dir = os.path.join(self.build_lib, "dlnsim", "bin")
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, "dlnsim")
        shutil.copyfile(source, target)
        mode = os.stat(target).st_mode
        os.chmod(target, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


cmdclass = {"build_py": BuildPyWithBinary}

if bdist_wheel is not None:

    class BdistWheel(bdist_wheel):
        def get_tag(self):
            if not _want_binary():
                return super().get_tag()
            plat = os.environ.get("DLNSIM_PLAT_NAME")
            if not plat:
                binary = os.path.join(self.bdist_dir, "dlnsim", "bin", "dlnsim")
                if not os.path.isfile(binary):
                    binary = _built_binary()
                plat = glibc_platform_tag(binary)
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = BdistWheel


class BinaryDistribution(Distribution):
    """With the binary inside, the package is platform specific (installed to platlib, a platform wheel)."""

    def has_ext_modules(self):
        return _want_binary()


setup(cmdclass=cmdclass, distclass=BinaryDistribution)
