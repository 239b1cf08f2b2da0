"""The figure of examples/label_noise.yaml: label-noise GD on pm against the lasso `dlnsim analyze` predicts.

    dlnsim run examples/label_noise.yaml && dlnsim analyze dlnsim-out/label_noise
    python3 examples/label_noise_figure.py dlnsim-out/label_noise      # writes label_noise.png and .pdf there

Left: ‖w̄(t)‖₁, w averaged over the seeds (they share the data) and over the recorded checkpoints in [t/2, t],
against the lasso's ‖ŵ‖₁ (dashed; analysis_label_noise_predicted_l1_norm). Right: effective_scale_sq_mean, the
mean of u_i·v_i/α², which label noise drives to zero (σ = 0: GD's own slow drift). Needs numpy and matplotlib.
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

folder = sys.argv[1] if len(sys.argv) > 1 else "dlnsim-out/label_noise"
path = lambda name: os.path.join(folder, name)  # noqa: E731
times = np.load(path("times.npy"))
weights = np.load(path("weights_t.npy"))  # [grid point, seed, recorded checkpoint, d]
recorded = json.load(open(path("manifest.json")))["recording"]["checkpoints"]
scale = np.load(path("effective_scale_sq_mean.npy"))  # [grid point, seed, checkpoint]
predicted = np.load(path("analysis_label_noise_predicted_l1_norm.npy"))  # [grid point, seed]
sigmas = [row["label_noise"] for row in csv.DictReader(open(path("grid.csv")))]

fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.8), constrained_layout=True)
colors = plt.cm.viridis(np.linspace(0, 0.85, len(sigmas)))
for g, sigma in enumerate(sigmas):
    t = times[g, recorded]
    mean_w = weights[g].mean(axis=0)  # over seeds: [recorded checkpoint, d]
    running = []
    for k in range(len(recorded)):
        window = (t >= t[k] / 2) & (t <= t[k])
        running.append(np.abs(mean_w[window].mean(axis=0)).sum())
    keep = t > 0
    left.plot(t[keep], np.array(running)[keep], color=colors[g], label=f"σ = {sigma}")
    if np.isfinite(predicted[g]).any():
        left.axhline(np.nanmedian(predicted[g]), color=colors[g], ls="--", lw=1)
    ts = times[g] > 0
    right.plot(times[g][ts], np.median(scale[g], axis=0)[ts], color=colors[g], label=f"σ = {sigma}")
left.set_xscale("log")
left.set_xlabel("t")
left.set_ylabel("‖w̄‖₁, w̄ over seeds and [t/2, t]")
left.set_title("dashed: the lasso's ‖ŵ‖₁", fontsize=9)
left.legend(fontsize=8)
right.set_xscale("log")
right.set_yscale("log")
right.set_xlabel("t")
right.set_ylabel("mean u·v/α² (median over seeds)")
right.set_title("effective scale", fontsize=9)
for ext in ("png", "pdf"):
    fig.savefig(path(f"label_noise.{ext}"), dpi=150)
print(f"wrote {path('label_noise.png')} and .pdf")
