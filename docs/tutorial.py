# %% [markdown]
# # From `pip install` to a grokking phase diagram
#
# This script is docs/tutorial.md as code, in the "percent" format: run it with `python docs/tutorial.py`, or open
# it as a notebook (VS Code, Jupyter with jupytext). It needs the `dlnsim` package and matplotlib:
#
# ```sh
# pip install dlnsim-0.1.0-py3-none-manylinux_2_35_x86_64.whl matplotlib   # a wheel (binary inside), or
# pip install "./python[plot]"                                              # from a checkout (builds the binary)
# ```
#
# It trains 72 diagonal linear networks w = (u⊙u − v⊙v)/2 with weight decay, from a large (lazy) to a small
# (rich) initialisation scale α, and draws the test error after training over the α × λ plane: the phase diagram
# of "grokking", the late drop of the test error once weight decay has shrunk the lazy solution
# (examples/grokking.yaml, t_c ≈ (ln α + C)/λ). About 10 s on two CPU cores.

# %%
import os

import matplotlib

matplotlib.use("Agg")  # files only; in a notebook, drop this line to see the figures inline
import matplotlib.pyplot as plt
import numpy as np

import dlnsim

print(dlnsim.version(), "at", dlnsim.find_binary())

# %% [markdown]
# ## The configuration
#
# A dict with the structure of the YAML files (examples/grokking.yaml, made smaller): d = 100, n = 50 samples
# with x ~ N(0, I/d), a 10%-sparse teacher of ones, the loss ½‖Xw − y‖², gradient descent up to the
# gradient-flow time t = 150. The grid crosses 6 values of α with 6 of λ (`logspace(a, b, k)`: k values from
# 10^a to 10^b); 2 seeds per point.

# %%
config = {
    "name": "grokking_phase",
    "problem": {
        "d": 100,
        "delta": 0.5,
        "design_variance": "1/d",
        "teacher": {"density": 0.1, "values": "ones"},
    },
    "model": {"parameterization": "pm"},
    "training": {"loss": "sum", "horizon": 150},
    "grid": {
        "alpha": "logspace(-0.5, 0.6, 6)",
        "weight_decay": "logspace(-2.7, -1.2, 6)",
        "learning_rate": 0.01,
    },
    "seeds": 2,
    "record": {"checkpoints": 40},
}
out = os.environ.get("TUTORIAL_OUT", "dlnsim-out/grokking_phase")

# %% [markdown]
# ## The run
#
# `dlnsim.run` starts the binary and shows a progress bar. Overrides change keys without editing the config
# (here: the number of seeds; `["seeds=2"]` works too). An unknown key or a bad value raises `dlnsim.DLNSimError`
# naming its key path.

# %%
run = dlnsim.run(config, {"seeds": 2}, out=out)
ds = run.dataset
print(ds)

# %% [markdown]
# `ds` has one variable per observable with the dimensions `alpha`, `weight_decay` (the grid axes that vary),
# `seed` and `checkpoint`; `t` (gradient-flow time) is a coordinate over (alpha, weight_decay, checkpoint) since it
# depends on the step size. The ensemble statistics are there too (`test_error_median`, `test_error_q10`, …).
#
# ## One grid point: the plateau and the drop
#
# At a large α the train loss is fitted early by a lazy, dense solution whose test error sits on the plateau
# ρ(1 − δ) = 0.05; the drop comes later for smaller λ.

# %%
alpha = float(ds.alpha[-1])
fig, ax = plt.subplots(figsize=(6, 4))
colours = plt.cm.viridis(np.linspace(0, 0.85, ds.sizes["weight_decay"]))
for lam, colour in zip(ds.weight_decay.values, colours):
    cell = ds.sel(alpha=alpha, weight_decay=lam)
    ax.plot(cell.t[1:], cell.test_error_median[1:], color=colour, label=f"λ = {lam:.2g}")
ax.axhline(0.1 * (1 - 0.5), color="grey", ls=":", label="ρ(1 − δ)")
ax.set(xscale="log", yscale="log", xlabel="t", ylabel="test error (median over seeds)", title=f"α = {alpha:.3g}")
ax.legend()
fig.tight_layout()
fig.savefig("grokking_curves.png", dpi=120)

# %% [markdown]
# ## The phase diagram
#
# The test error at the end of training (t = 150), median over the seeds, over the α × λ plane. Dark: the
# sparse teacher was found (rich); bright: still on the lazy plateau. The boundary is where the transition time
# t_c ≈ (ln α + C)/λ reaches the horizon, so the lazy region grows with α and shrinks with λ.

# %%
final = ds.test_error.isel(checkpoint=-1).median("seed")
print(final.to_pandas().round(4))

fig, ax = plt.subplots(figsize=(6, 4.5))
mesh = ax.pcolormesh(
    ds.weight_decay, ds.alpha, final.transpose("alpha", "weight_decay"),
    norm=matplotlib.colors.LogNorm(), cmap="viridis", shading="nearest",
)
fig.colorbar(mesh, ax=ax, label="test error at t = 150")
ax.set(xscale="log", yscale="log", xlabel="weight decay λ", ylabel="initialisation scale α",
       title="lazy → rich: test error after training")
for axis, values in ((ax.xaxis, ds.weight_decay.values), (ax.yaxis, ds.alpha.values)):
    axis.set_major_locator(matplotlib.ticker.FixedLocator(values))
    axis.set_major_formatter(matplotlib.ticker.FixedFormatter([f"{v:.2g}" for v in values]))
    axis.set_minor_locator(matplotlib.ticker.NullLocator())
fig.tight_layout()
fig.savefig("grokking_phase_diagram.png", dpi=120)
print("wrote grokking_phase_diagram.png and grokking_curves.png")

# %% [markdown]
# ## Later
#
# `dlnsim.open(out)` reads the folder again (also while a run is still going); `dlnsim.analyze(run)` measures t_c
# for every replica; every figure of the folder comes with a matplotlib script (`run.figures`).
