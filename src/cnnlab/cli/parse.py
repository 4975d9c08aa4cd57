"""The CLI's text arguments (shapes, matrices, pairs): the shared options and their parsing, with one-line errors."""

import ast

import numpy as np
import typer

from cnnlab.errors import CnnlabError

STRIDE = typer.Option("1", "--stride", help="Stride S or SH,SW.")
PADDING = typer.Option("0", "--padding", help="Padding P or PH,PW, or 'same' (stride 1) or 'valid'.")
DILATION = typer.Option("1", "--dilation", help="Dilation D or DH,DW.")


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse `3x224x224` (or `3,224,224`) into a tuple of positive ints."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise CnnlabError(f"malformed shape {text!r}: expected numbers joined by 'x', e.g. 3x224x224") from None
    if any(d <= 0 for d in dims):
        raise CnnlabError(f"malformed shape {text!r}: every dimension must be positive")
    return dims


def parse_matrix(text: str, name: str = "matrix") -> np.ndarray:
    """Parse nested-list text like `[[1,2],[3,4]]` into a float64 array; ragged or non-numeric text is an error."""
    try:
        value = ast.literal_eval(text.strip())
        array = np.array(value, dtype=np.float64)
    except (ValueError, SyntaxError, TypeError):
        raise CnnlabError(f"malformed {name} {text!r}: expected nested lists of numbers, e.g. [[1,2],[3,4]]") from None
    if array.ndim == 0 or array.size == 0:
        raise CnnlabError(f"malformed {name} {text!r}: expected a non-empty matrix")
    return array


def parse_pair(text: str, name: str) -> tuple[int, int]:
    """Parse `2` or `2,3` into an (h, w) pair of ints."""
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise CnnlabError(f"malformed {name} {text!r}: expected an int or two ints like 2,3") from None
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise CnnlabError(f"malformed {name} {text!r}: expected an int or two ints like 2,3")
