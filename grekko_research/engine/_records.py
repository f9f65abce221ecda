"""Record conversion: the kernels' structured records to the float64 tables users see.

Kernels write structured arrays (``ORDER_DTYPE``, ``TRADE_DTYPE``, ``EVENT_DTYPE``,
``FUNDING_DTYPE`` in :mod:`grekko_research.engine.layout`: bars, assets, kinds and statuses
as integers). :class:`~grekko_research.engine.api.BacktestResult` keeps exposing
``order_records`` and friends as ``(n, len(*_FIELDS))`` float64 tables (their columns in the
``*_FIELDS`` order, which is each dtype's field order), which the metrics, reports and users
index by column. One converter serves every record type; it converts exactly (every integer
field is far below 2**53) and runs only when a table is first asked for.
"""

from __future__ import annotations

import numpy as np

from grekko_research.engine.layout import (
    EVENT_DTYPE,
    EVENT_FIELDS,
    FUNDING_DTYPE,
    FUNDING_FIELDS,
    ORDER_DTYPE,
    ORDER_FIELDS,
    TRADE_DTYPE,
    TRADE_FIELDS,
)

__all__ = ["record_table"]

# Each record dtype against the public columns it becomes (checked at import: a field added
# to one and not the other would shift every column after it).
for _dtype, _fields in (
    (ORDER_DTYPE, ORDER_FIELDS),
    (TRADE_DTYPE, TRADE_FIELDS),
    (EVENT_DTYPE, EVENT_FIELDS),
    (FUNDING_DTYPE, FUNDING_FIELDS),
):
    if len(_dtype.names or ()) != len(_fields):
        raise ImportError(f"record dtype {_dtype.names} does not match the columns {_fields}")


def record_table(rec: np.ndarray) -> np.ndarray:
    """Return structured records as a float64 ``(n, number of fields)`` table, fields in order.

    A float64 table (already converted) is returned as it is.
    """
    names = rec.dtype.names
    if names is None:
        return rec
    out = np.empty((rec.shape[0], len(names)))
    for i, name in enumerate(names):
        out[:, i] = rec[name]
    return out
