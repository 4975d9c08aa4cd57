"""Activation functions in NumPy: ReLU, Leaky ReLU and GELU (exact, with erf, or the tanh approximation)."""

import math

import numpy as np

from cnnlab.errors import CnnlabError, SettingError
from cnnlab.ops.im2col import as_float

_erf = np.vectorize(math.erf, otypes=[np.float64])


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x): negatives become zero, positives pass unchanged."""
    return np.maximum(as_float(x), 0)


def leaky_relu(x: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """x where x > 0, slope*x elsewhere: negatives keep a small gradient."""
    if not math.isfinite(slope):
        raise SettingError("slope", f"must be a finite number, got {slope}")
    values = as_float(x)
    return np.where(values > 0, values, slope * values).astype(values.dtype)


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """x * Phi(x) with Phi the standard normal CDF, exactly or with torch's tanh approximation.

    approximate='none': 0.5 x (1 + erf(x / sqrt 2))
    approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    """
    values = as_float(x)
    if approximate == "none":
        result = 0.5 * values * (1.0 + _erf(values / math.sqrt(2.0)))
    elif approximate == "tanh":
        result = 0.5 * values * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (values + 0.044715 * values**3)))
    else:
        raise CnnlabError(f"unknown GELU approximation {approximate!r}: use 'none' or 'tanh'")
    return np.asarray(result, dtype=values.dtype)


NAMES = ("relu", "leaky_relu", "gelu", "gelu_tanh")


def activate(x: np.ndarray, name: str, slope: float = 0.01) -> np.ndarray:
    """Apply an activation by name: relu, leaky_relu (with `slope`), gelu (exact) or gelu_tanh."""
    if name == "relu":
        return relu(x)
    if name == "leaky_relu":
        return leaky_relu(x, slope)
    if name in ("gelu", "gelu_tanh"):
        return gelu(x, approximate="tanh" if name == "gelu_tanh" else "none")
    raise CnnlabError(f"unknown activation {name!r}: choose one of {', '.join(NAMES)}")
