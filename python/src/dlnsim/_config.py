"""Turning a configuration (dict, YAML text or path) and overrides into dlnsim's command line."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Mapping, Sequence

import yaml

from ._errors import DLNSimError

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-+*/() ,]*$")


def config_source(config) -> tuple[str, str | None]:
    """(argument for `dlnsim run`, text for its standard input or None).

    A dict is written as YAML to standard input (`-`); a str with a newline or a colon outside a file that
    exists is YAML text; any other str or os.PathLike is the path of a configuration file.
    """
    if isinstance(config, Mapping):
        return "-", yaml.safe_dump(_plain(dict(config)), sort_keys=False)
    if isinstance(config, os.PathLike):
        path = os.fspath(config)
        _check_file(path)
        return path, None
    if isinstance(config, str):
        if os.path.isfile(config):
            return config, None
        if "\n" in config or ":" in config:
            return "-", config
        _check_file(config)
        return config, None
    raise TypeError(f"config must be a dict, a YAML string or a path, not {type(config).__name__}")


def _check_file(path):
    if not os.path.isfile(path):
        raise DLNSimError(f"{path}: no such configuration file", kind="bad_file")


def override_arguments(overrides) -> list[str]:
    """`key=value` arguments from a dict of dotted keys or a list of `key=value` strings."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        args = []
        for key, value in overrides.items():
            if not isinstance(key, str) or not key:
                raise DLNSimError(f"override key {key!r} is not a dotted key path", kind="invalid_configuration")
            args.append(f"{key}={format_value(value)}")
        return args
    if isinstance(overrides, str):
        overrides = [overrides]
    args = []
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise DLNSimError(
                f"override {item!r} is not of the form key=value (e.g. grid.alpha=[0.01,0.1])",
                kind="invalid_configuration",
            )
        args.append(item)
    return args


def format_value(value: Any) -> str:
    """A Python value as YAML flow text that dlnsim reads back as the same value."""
    value = _plain(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str):
        if _PLAIN.match(value) and value not in ("true", "false", "null", "yes", "no", "on", "off", "~"):
            return value
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as a configuration value")


def _format_float(x: float) -> str:
    if math.isnan(x):
        return ".nan"
    if math.isinf(x):
        return ".inf" if x > 0 else "-.inf"
    text = repr(x)
    if "e" in text:  # YAML 1.1 wants a dot in the mantissa of an exponent float
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        text = f"{mantissa}e{exponent}"
    return text


def _plain(value):
    """numpy scalars and arrays, tuples → plain Python values (for YAML)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
