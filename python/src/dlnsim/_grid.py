"""The grid of an output folder as Dataset dimensions: one per varying grid axis, or `point` for zipped axes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

# dlnsim's grid axes (YAML keys under `grid:`), in the order grid points nest (alpha outermost).
AXES = [
    "alpha",
    "weight_decay",
    "learning_rate",
    "d",
    "delta",
    "noise",
    "density",
    "depth",
    "parameterization",
    "update",
    "batch_size",
    "label_noise",
    "gradient_noise",
    "momentum",
]


@dataclass
class GridLayout:
    """How the [grid point, …] arrays map onto Dataset dimensions."""

    points: int
    dims: list  # dimension names replacing the grid-point axis ([] for a single point)
    shape: tuple  # their sizes
    coords: dict = field(default_factory=dict)  # name -> (dims, values)
    order: Optional[np.ndarray] = None  # grid point of each cell in C order; None: identity
    table: Optional[pd.DataFrame] = None  # grid.csv

    def arrange(self, array):
        """array [grid point, rest…] → [grid dims…, rest…] (a view when the points are already in order)."""
        array = array if self.order is None else np.asarray(array)[self.order]
        return array.reshape(tuple(self.shape) + tuple(array.shape[1:]))


def varying_axes(grid_config: dict) -> list:
    axes = []
    for axis in AXES:
        values = grid_config.get(axis)
        if isinstance(values, list) and len({repr(v) for v in values}) > 1:
            axes.append(axis)
    return axes


def layout(grid_table: Optional[pd.DataFrame], grid_config: dict, points: int) -> GridLayout:
    result = _layout(grid_table, grid_config, points)
    if grid_table is not None and len(grid_table) == points:
        for axis in AXES:  # the axes that do not vary: scalar coordinates
            if axis in grid_table.columns and axis not in result.coords:
                values = pd.unique(grid_table[axis])
                if len(values) == 1:
                    result.coords[axis] = ((), values[0])
    return result


def _layout(grid_table: Optional[pd.DataFrame], grid_config: dict, points: int) -> GridLayout:
    axes = varying_axes(grid_config or {})
    zipped = bool((grid_config or {}).get("zip"))
    table = grid_table
    if table is not None:
        table = table.sort_values("point").reset_index(drop=True) if "point" in table.columns else table
        if len(table) != points:
            table = None
    if table is not None:
        axes = [a for a in axes if a in table.columns]

    def column(axis):
        if table is not None:
            return table[axis].to_numpy()
        return None

    if points == 1 and not axes:
        coords = {}
        if table is not None:
            for axis in AXES:
                if axis in table.columns:
                    coords[axis] = ((), table[axis].to_numpy()[0])
        return GridLayout(points, [], (), coords, None, grid_table)

    if zipped or not axes or table is None:
        coords = {"point": (("point",), np.arange(points))}
        for axis in axes:
            values = column(axis)
            if values is not None:
                coords[axis] = (("point",), values)
        return GridLayout(points, ["point"], (points,), coords, None, grid_table)

    uniques = [pd.unique(table[a]) for a in axes]
    shape = tuple(len(u) for u in uniques)
    if int(np.prod(shape)) != points:
        return _layout(grid_table, {**grid_config, "zip": [axes]}, points)
    position = {}
    for point, key in enumerate(zip(*(table[a].to_numpy() for a in axes))):
        position[tuple(key)] = point
    order = []
    for key in np.ndindex(*shape):
        combination = tuple(u[i] for u, i in zip(uniques, key))
        if combination not in position:
            return _layout(grid_table, {**grid_config, "zip": [axes]}, points)
        order.append(position[combination])
    order = np.asarray(order)
    if np.array_equal(order, np.arange(points)):
        order = None
    coords = {a: ((a,), u) for a, u in zip(axes, uniques)}
    coords["point"] = (tuple(axes), (np.arange(points) if order is None else order).reshape(shape))
    return GridLayout(points, list(axes), shape, coords, order, grid_table)


_SPACE = re.compile(r"^\s*(logspace|linspace)\(\s*([^,]+),\s*([^,]+),\s*([^)]+)\)\s*$")


def expand_values(value):
    """A grid value of a configuration (number, list, 'logspace(a, b, k)', 'linspace(a, b, k)') as a list."""
    if isinstance(value, str):
        match = _SPACE.match(value)
        if match:
            kind, a, b, k = match.group(1), float(match.group(2)), float(match.group(3)), int(float(match.group(4)))
            if kind == "linspace":
                values = list(np.linspace(a, b, k))
            else:
                values = list(10.0 ** np.linspace(a, b, k))
                values[0], values[-1] = 10.0**a, 10.0**b
            return [float(v) for v in values]
        return [value]
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(expand_values(v) if isinstance(v, str) and _SPACE.match(v) else [v])
        return out
    if value is None:
        return None
    return [value]


def table_from_config(grid_config: dict, points: int) -> Optional[pd.DataFrame]:
    """grid.csv's varying columns rebuilt from a configuration's grid section (for `dlnsim theory`, which writes
    no grid.csv): crossed axes nest in dlnsim's order, zipped ones are paired. None when it does not add up."""
    values = {a: expand_values(grid_config.get(a)) for a in AXES}
    values = {a: v for a, v in values.items() if v is not None}
    groups = []
    zipped = grid_config.get("zip") or []
    in_zip = {a for group in zipped for a in group}
    for axis in AXES:
        if axis not in values:
            continue
        if axis in in_zip:
            group = next(g for g in zipped if axis in g)
            if axis == min(group, key=AXES.index):
                groups.append([(a, values.get(a, [None])) for a in group])
            continue
        groups.append([(axis, values[axis])])
    rows = [{}]
    for group in groups:
        length = len(group[0][1])
        new_rows = []
        for row in rows:
            for i in range(length):
                r = dict(row)
                for name, vals in group:
                    r[name] = vals[i] if i < len(vals) else None
                new_rows.append(r)
        rows = new_rows
    if len(rows) != points:
        return None
    table = pd.DataFrame(rows)
    table.insert(0, "point", np.arange(points))
    return table
