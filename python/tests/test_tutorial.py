"""docs/tutorial.py runs as a script: a grokking phase diagram as PNG, from the run it makes."""

import os
import struct
import subprocess
import sys

import dlnsim


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_tutorial_script(repo, tmp_path):
    script = repo / "docs" / "tutorial.py"
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "wrote grokking_phase_diagram.png" in out.stdout
    for name in ("grokking_phase_diagram.png", "grokking_curves.png"):
        width, height = png_size(tmp_path / name)
        assert width >= 600 and height >= 400
        assert os.path.getsize(tmp_path / name) > 10_000

    # the diagram it draws: the lazy corner (large α, small λ) still on the plateau ρ(1 − δ) = 0.05, rich cells far
    # below
    ds = dlnsim.open(tmp_path / "dlnsim-out" / "grokking_phase").dataset
    final = ds.test_error.isel(checkpoint=-1).median("seed")
    assert final.sizes == {"alpha": 6, "weight_decay": 6}
    lazy = float(final.isel(alpha=-1, weight_decay=0))
    assert 0.045 < lazy < 0.065
    assert float(final.min()) < 0.3 * lazy
    # at the largest α the error after training falls as λ grows (earlier transition)
    row = final.isel(alpha=-1).values
    assert row[-1] < row[2] < row[0] * 1.01
