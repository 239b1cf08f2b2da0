#!/usr/bin/env python3
"""Make the small real-valued data set of examples/user_data.yaml (NumPy only, deterministic).

An expression-like regression problem: 80 training and 200 test samples of 300 correlated features
(AR(1) correlation 0.6 along the feature index, standardised with the training set's mean and
standard deviation), and a response driven by 8 of the features plus noise. Over-parameterised
(d > n), like the gene-expression data the DMFT paper uses.

    python3 examples/make_user_data.py        (writes examples/user_data/*.npy)
"""
import os
import numpy as np

rng = np.random.default_rng(20251001)
n_train, n_test, d, k, rho, sigma = 80, 200, 300, 8, 0.6, 0.3

def features(n):
    z = rng.standard_normal((n, d))
    x = np.empty_like(z)
    x[:, 0] = z[:, 0]
    for j in range(1, d):  # AR(1) across features: corr(x_i, x_j) = rho^|i-j|
        x[:, j] = rho * x[:, j - 1] + np.sqrt(1 - rho**2) * z[:, j]
    return x

x_train, x_test = features(n_train), features(n_test)
mean, std = x_train.mean(0), x_train.std(0)
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
w_star = np.zeros(d)
support = rng.choice(d, size=k, replace=False)
w_star[support] = rng.choice([-1.0, 1.0], size=k) * rng.uniform(0.5, 1.5, size=k)
y_train = x_train @ w_star + sigma * rng.standard_normal(n_train)
y_test = x_test @ w_star + sigma * rng.standard_normal(n_test)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "user_data")
os.makedirs(out, exist_ok=True)
for name, a in [("X", x_train), ("y", y_train), ("X_test", x_test), ("y_test", y_test), ("w_star", w_star)]:
    np.save(os.path.join(out, name + ".npy"), a.astype(np.float64))
print(f"wrote X {x_train.shape}, y {y_train.shape}, X_test {x_test.shape}, y_test {y_test.shape}, w_star {w_star.shape} to {out}")
