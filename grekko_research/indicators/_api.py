"""Argument checks and array conversion shared by the indicator wrappers (private).

Wrappers accept 1-D ``(n,)`` or 2-D ``(n, k)`` arrays, pandas Series and
DataFrames (anything with ``to_numpy``; pandas itself is never imported here)
and hand the kernels read-only C-contiguous float64 ``(n, k)`` views: no copy
when the input already has that dtype and layout, one compiled signature per
kernel, and a kernel that tried to write its input would not compile.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import numpy.typing as npt

from grekko_research.errors import ConfigError


def as_matrix(func: str, name: str, x: object) -> tuple[np.ndarray, bool]:
    """Return ``x`` as a read-only C-contiguous float64 ``(n, k)`` array and whether it was 1-D.

    Raises
    ------
    ConfigError
        If ``x`` is not numeric or not one- or two-dimensional.
    """
    mat, shape = _convert(func, name, x)
    return mat, len(shape) == 1


def _convert(func: str, name: str, x: object) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return the read-only ``(n, k)`` float64 view of ``x`` and ``x``'s own shape."""
    try:
        if hasattr(x, "to_numpy"):  # pandas: nullable dtypes turn pd.NA into NaN
            arr = np.asarray(x.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            arr = np.asarray(x)
    except (TypeError, ValueError) as e:  # ragged sequences, text columns and the like
        raise ConfigError(f"{func}: {name} must be a numeric array, got {type(x).__name__}") from e
    if arr.dtype.kind not in "biuf":
        raise ConfigError(f"{func}: {name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ConfigError(f"{func}: {name} must be 1-D or 2-D, got shape {arr.shape}")
    mat = np.ascontiguousarray(arr.reshape(-1, 1) if arr.ndim == 1 else arr, dtype=np.float64)
    view = mat.view()
    view.flags.writeable = False
    return view, arr.shape


def as_matrices(func: str, **arrays: object) -> tuple[list[np.ndarray], bool]:
    """Convert several same-shaped inputs with :func:`as_matrix`.

    Raises
    ------
    ConfigError
        If an input is malformed or the shapes differ.
    """
    out: list[np.ndarray] = []
    shapes: list[tuple[int, ...]] = []
    for name, value in arrays.items():
        mat, shape = _convert(func, name, value)
        out.append(mat)
        shapes.append(shape)
    if len(set(shapes)) > 1:
        listed = ", ".join(f"{n}={s}" for n, s in zip(arrays, shapes, strict=True))
        raise ConfigError(f"{func}: inputs must have the same shape, got {listed}")
    return out, len(shapes[0]) == 1


def restore(out: np.ndarray, was_1d: bool) -> npt.NDArray[np.float64]:
    """Return a kernel's ``(n, k)`` output in the caller's shape (``(n,)`` for 1-D input)."""
    return out[:, 0] if was_1d else out


def check_int(func: str, name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int ``>= minimum``, or raise ConfigError naming ``func`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{func}: {name} must be an integer, got {value!r}")
    result = int(value)
    if result < minimum:
        raise ConfigError(f"{func}: {name} must be >= {minimum}, got {result}")
    return result


def check_float(func: str, name: str, value: object, *, positive: bool) -> float:
    """Return ``value`` as a finite float (``> 0`` if ``positive``, else ``>= 0``).

    Raises
    ------
    ConfigError
        Naming ``func`` and ``name`` if the value is not a finite number in range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{func}: {name} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result) or result < 0.0 or (positive and result == 0.0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"{func}: {name} must be a finite number {bound}, got {result}")
    return result
