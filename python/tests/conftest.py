import os
import pathlib

import pytest

import dlnsim

# Runs render their figures with matplotlib only where a test asks for it (test_render_writes_png_and_pdf).
os.environ.setdefault("DLNSIM_RENDER", "0")

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo():
    return REPO


SMALL = {
    "name": "small",
    "problem": {"d": 30, "delta": 0.5},
    "training": {"steps": 60},
    "grid": {"alpha": [0.1, 1.0], "weight_decay": [0.0, 0.05], "learning_rate": 0.05},
    "seeds": 3,
    "record": {"checkpoints": 6},
}


@pytest.fixture
def small():
    import copy

    return copy.deepcopy(SMALL)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "small"
    return dlnsim.run(SMALL, out=out, progress=False)


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
