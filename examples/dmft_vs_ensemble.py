"""Compare a d -> infinity DMFT curve with a finite-d ensemble, checkpoint by checkpoint.

    dlnsim run    examples/grokking.yaml --out runs/grokking      # the ensemble (any d, several seeds)
    dlnsim theory examples/grokking.yaml --out runs/grokking_dmft # the DMFT of the same configuration
    python3 examples/dmft_vs_ensemble.py runs/grokking runs/grokking_dmft [--tolerance 0.02] [--sigmas 3]

For every grid point and checkpoint it compares the ensemble's mean test error and train loss (standard error:
std over seeds / sqrt(seeds)) with the DMFT's (its standard error over its independent solves) and counts the
checkpoints where they differ by more than max(tolerance x |ensemble|, sigmas x combined standard error). It also
prints the lazy -> rich time of both mean curves (the first time the test error falls below halfway from its value
when the train loss reached 1e-3 of its start to its final value; dlnsim's Rates.lazyToRichTime). The two folders
must have the same grid points and checkpoint times (the same configuration). Exit status 1 when a checkpoint is
outside, 2 on unusable input.
"""

import argparse
import json
import os
import sys

import numpy as np


def load(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        sys.exit(f"error: {path}: missing (is {folder} a dlnsim output folder of the right kind?)")
    return np.load(path)


def lazy_to_rich(times, loss, test):
    fit = np.nonzero(loss < 1e-3 * loss[0])[0]
    if len(fit) == 0:
        return None
    k0 = fit[0]
    threshold = 0.5 * (test[k0] + test[-1])
    later = [k for k in range(k0 + 1, len(test)) if test[k] < threshold]
    if not later:
        return None
    k = later[0]
    f = (threshold - test[k - 1]) / (test[k] - test[k - 1])
    return times[k - 1] + f * (times[k] - times[k - 1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a `dlnsim run` output folder (the ensemble)")
    parser.add_argument("theory", help="a `dlnsim theory` output folder of the same configuration")
    parser.add_argument("--tolerance", type=float, default=0.02, help="relative tolerance (default 0.02)")
    parser.add_argument("--sigmas", type=float, default=3.0, help="combined standard errors (default 3)")
    args = parser.parse_args()

    times = load(args.run, "times.npy")
    dmft_times = load(args.theory, "dmft_times.npy")
    manifest = json.load(open(os.path.join(args.theory, "dmft_manifest.json")))
    if times.shape != dmft_times.shape or not np.allclose(times, dmft_times, rtol=1e-9):
        sys.exit(
            f"error: {args.run}/times.npy {times.shape} and {args.theory}/dmft_times.npy {dmft_times.shape} differ: "
            "run the theory on the run's own configuration (its config.yaml)")
    outside_total = 0
    for g in range(times.shape[0]):
        point = manifest["grid_points"][g]
        print(f"grid point {g}: DMFT {'converged' if point['converged'] else 'NOT converged'} "
              f"({point['iterations']} iterations, {point.get('paths', manifest.get('paths'))} paths)")
        curves = {}
        for name in ("test_error", "train_loss"):
            ensemble = load(args.run, f"{name}.npy")[g]
            dmft = load(args.theory, f"dmft_{name}.npy")[g]
            seeds = ensemble.shape[0]
            mean = ensemble.mean(0)
            se = ensemble.std(0, ddof=1) / np.sqrt(seeds) if seeds > 1 else np.zeros_like(mean)
            combined = np.sqrt(se**2 + dmft[1] ** 2)
            deviation = np.abs(dmft[0] - mean)
            allowed = np.maximum(args.tolerance * np.abs(mean), args.sigmas * combined)
            outside = np.nonzero(deviation > allowed)[0]
            outside_total += len(outside)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.where(combined > 0, deviation / combined, 0.0)
            print(f"  {name}: {len(outside)} of {len(mean)} checkpoints outside"
                  f"{' ' + str(outside.tolist()) if len(outside) else ''}; largest deviation {np.max(z):.2f} s.e.")
            curves[name] = (mean, dmft[0])
        tc_ensemble = lazy_to_rich(times[g], curves["train_loss"][0], curves["test_error"][0])
        tc_dmft = lazy_to_rich(times[g], curves["train_loss"][1], curves["test_error"][1])
        if tc_ensemble and tc_dmft:
            print(f"  lazy -> rich time: ensemble {tc_ensemble:.4g}, DMFT {tc_dmft:.4g} "
                  f"({tc_dmft / tc_ensemble - 1:+.2%})")
    sys.exit(1 if outside_total else 0)


if __name__ == "__main__":
    main()
