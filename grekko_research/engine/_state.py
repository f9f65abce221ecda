"""Named state of the kernels: what every phase function takes instead of thirty arrays.

Four NamedTuples (numba passes them as one typed argument each, vectorbt's
``execute_order_nb(state, order)`` pattern):

* :class:`Market` — the bars: ``ts`` ``(n,)`` open times in ms; ``open``,
  ``high``, ``low``, ``close``, ``volume`` ``(n, k)``; ``filled`` ``(n, k)``
  (no market on that bar); ``funding`` ``(n, k)`` rates or ``(0, 0)``;
  ``pool`` ``(n, k, 4 + 3W)`` the pool state per bar of assets filled by a DEX
  pool's quote (``FILL_AMM``, ``layout.POOL_*`` columns), the features per bar
  of assets filled by a calibrated cost model (``FILL_CALIBRATED``,
  ``layout.CAL_BAR_*``), or ``(0, 0, 0)``.
* :class:`Decisions` — the decision rows (``(n, k)``, or ``(0, 0)`` when the
  signal mode does not use them) and the indicators sizing and stops read as of
  a decision bar (``atr``, ``vol``; ``(0, 0)`` when unused).
* :class:`Rules` — everything fixed for a run: the configuration vector
  (``CFG_*``), the risk limits (``LIM_*``), the market rules per asset and the
  fill model per asset (``fill_model`` ``(k,)`` ids, ``fill_state`` ``(k, m)``
  its data; see :mod:`grekko_research.engine._fills`).
* :class:`Book` — everything a run changes: per-asset state ``S`` ``(k,
  N_STATE)``, the account ``A`` ``(N_ACCOUNT,)``, the record buffers
  (structured arrays of ``ORDER_DTYPE``, ``TRADE_DTYPE``, ``EVENT_DTYPE``,
  ``FUNDING_DTYPE``) and two
  ``(k,)`` scratch vectors. A later member (say a risk state with holds and an
  order-rate window) is added here once and reaches every phase without a new
  argument anywhere.

And :class:`Order`, the one order on its way through sizing, checks and the
fill (asset, signed size, fill price, kind, maker or taker, slippage, ATR at
the decision).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

import numba
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from grekko_research.engine._risk import RiskRules, new_risk_state_nb, risk_rules
from grekko_research.engine.layout import (
    EVENT_DTYPE,
    FILL_OHLC,
    FUNDING_DTYPE,
    ORDER_DTYPE,
    TRADE_DTYPE,
)

__all__ = [
    "Book",
    "Decisions",
    "Market",
    "Order",
    "Rules",
    "borrowed",
    "make_rules",
    "new_book",
    "njit_inline",
    "njit_no_runtime",
]

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")


class Market(NamedTuple):
    """The bars of a run (see the module docstring for shapes)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    filled: np.ndarray
    funding: np.ndarray
    pool: np.ndarray = np.zeros((0, 0, 0))  # (n, k, 4 + 3W) pool rows of FILL_AMM assets


class Decisions(NamedTuple):
    """Decision rows of one signal mode plus the indicators read at a decision bar."""

    entries: np.ndarray
    exits: np.ndarray
    short_entries: np.ndarray
    short_exits: np.ndarray
    target: np.ndarray
    ord_kind: np.ndarray
    ord_size: np.ndarray
    ord_price: np.ndarray
    ord_stop: np.ndarray
    atr: np.ndarray
    vol: np.ndarray


class Rules(NamedTuple):
    """Configuration, risk limits, market rules and fill models of a run."""

    cfg: np.ndarray
    limits: np.ndarray
    lot: np.ndarray
    tick: np.ndarray
    min_notional: np.ndarray
    fill_model: np.ndarray
    fill_state: np.ndarray
    risk: RiskRules  # the run's risk spec (engine/_risk.py); off: risk_rules()


class Book(NamedTuple):
    """The mutable state of a run: positions, account, records, scratch."""

    S: np.ndarray
    A: np.ndarray
    orec: np.ndarray
    trec: np.ndarray
    erec: np.ndarray
    frec: np.ndarray
    px: np.ndarray
    adds: np.ndarray
    R: np.ndarray  # risk state: holds, trading state, order times (engine/_risk.py)


class Order(NamedTuple):
    """One order being checked and filled; ``price`` is the fill price after slippage."""

    asset: int
    size: float
    price: float
    kind: int
    maker: bool
    slip: float
    atr: float


@njit(cache=True, nogil=True)
def new_book(S: np.ndarray, A: np.ndarray, capacity: int) -> Book:
    """Return a :class:`Book` around ``S``/``A`` with record buffers of ``capacity`` rows
    (and the risk state of a run without risk rules: the live book's, whose risk engine is
    live's own)."""
    k = S.shape[0]
    return Book(
        S,
        A,
        np.empty(capacity, dtype=ORDER_DTYPE),
        np.empty(capacity, dtype=TRADE_DTYPE),
        np.empty(capacity, dtype=EVENT_DTYPE),
        np.empty(capacity, dtype=FUNDING_DTYPE),
        np.full(k, np.nan),
        np.zeros(k),
        new_risk_state_nb(k, 0),
    )


def _borrow_value(context: Any, builder: Any, ty: types.Type, value: Any) -> Any:
    """Return ``value`` of type ``ty`` with every array's memory-info pointer set to NULL."""
    if isinstance(ty, types.Array):
        ary = context.make_array(ty)(context, builder, value=value)
        ary.meminfo = cgutils.get_null_value(ary.meminfo.type)  # type: ignore[no-untyped-call]
        return ary._getvalue()
    if isinstance(ty, types.BaseTuple):
        for i, member in enumerate(cast(Any, ty).types):
            item = builder.extract_value(value, i)
            value = builder.insert_value(value, _borrow_value(context, builder, member, item), i)
    return value


@intrinsic
def _borrowed(typingctx: Any, state: types.Type) -> Any:
    sig = state(state)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return _borrow_value(context, builder, signature.args[0], args[0])

    return sig, codegen


borrowed: Callable[[_T], _T] = cast(Callable[[_T], _T], _borrowed)
"""Return a state (an array or a named tuple of arrays) as views outside reference counting.

Numba reference-counts every array a jitted function receives, member by
member for a named tuple: an atomic increment on entry and a decrement on exit,
which its pruning pass removes only in simple control flow. The bar loops run
without the memory runtime (:func:`njit_no_runtime`) and emit none; a helper
they call that was compiled with it (the same helper compiled first for the
live book, say, and loaded from the disk cache) would still count, and on
borrowed views (the same data, shapes and strides, with a NULL memory-info
pointer) the runtime's increment and decrement return at once. The caller must
keep the owning arrays alive while the views are used (the driver's own
arguments and locals do, for the whole run); a borrowed array must never be
returned or stored beyond that.
"""


def _cpu_option(name: str) -> bool:
    """Whether this numba's CPU target accepts the jit option ``name``.

    ``_nrt`` is private and ``forceinline`` recent: a numba that drops either
    would refuse the whole kernel at its first compile (``KeyError:
    Unrecognized options``), so each is used only when present.
    """
    try:
        from numba.core.cpu import CPUTargetOptions
    except ImportError:
        return False
    return isinstance(getattr(CPUTargetOptions, name, None), CPUTargetOptions.Mapping)


NO_RUNTIME = _cpu_option("_nrt")
"""True when the bar loops compile without numba's memory runtime (see :func:`njit_no_runtime`)."""
if not NO_RUNTIME:
    warnings.warn(
        f"numba {numba.__version__} has no '_nrt' jit option: the engine's bar loops compile "
        "with the memory runtime (same results, slower: each phase call counts references)",
        RuntimeWarning,
        stacklevel=1,
    )
_NO_RUNTIME_OPTIONS: dict[str, Any] = {"_nrt": False} if NO_RUNTIME else {}
_INLINE_OPTIONS: dict[str, Any] = {"forceinline": True} if _cpu_option("forceinline") else {}


def njit_no_runtime(fn: _F) -> _F:
    """``@njit(cache=True, nogil=True)`` without numba's memory runtime (NRT), for bar loops.

    Its callees compiled within it inherit the setting (numba's flag
    inheritance). A bar loop owns no memory (its driver allocates), so no array
    in it needs reference counting, and without the runtime none is emitted:
    with it, every phase and order helper that receives the named state counts
    each of its arrays in and out (NRT_incref/decref, which numba's pruning pass
    removes only in simple control flow), measured 3-13x slower per bar than the
    loose-array kernels these replaced. The compiler refuses any allocation in
    such a call tree; nothing in it may return an array.

    ``_nrt`` is a private numba option (numba uses it itself, for its string
    helpers; the installed 0.68.1 has it). Should a numba drop
    it, this decorator falls back to plain ``njit`` with a ``RuntimeWarning`` at
    import (:data:`NO_RUNTIME` False): the kernels give the same records, only
    slower; the borrowed views keep the counting cheap (a NULL memory-info
    pointer returns at once).
    """
    return cast(_F, njit(cache=True, nogil=True, **_NO_RUNTIME_OPTIONS)(fn))


def njit_inline(fn: _F) -> _F:
    """``@njit(cache=True, nogil=True)`` inlined into its callers by LLVM (``forceinline``).

    For the per-bar phases and small helpers: a call passes every array of the
    named tuples it takes as separate machine arguments (about nine words an
    array), too much per bar; inlined, the copies vanish. LLVM-level inlining,
    not numba's ``inline="always"``, which re-types the callee into every call
    site and multiplied the compile time of nested chains (the lean kernel's
    took 34 of run_grid's 84 CPU seconds of compilation with it, 9 without).
    Callees compiled within inherit ``forceinline`` (numba's flag inheritance).
    Without the option (an older or newer numba) LLVM's own heuristics decide.
    """
    return cast(_F, njit(cache=True, nogil=True, **_INLINE_OPTIONS)(fn))


def make_rules(
    cfg: np.ndarray,
    limits: np.ndarray,
    lot: np.ndarray,
    tick: np.ndarray,
    min_notional: np.ndarray,
    risk: RiskRules | None = None,
) -> Rules:
    """Return the :class:`Rules` of a run whose assets all fill by the OHLC bar model
    (``risk``: the run's risk spec for the kernel, default off)."""
    k = len(lot)

    def vec(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float64)

    return Rules(
        vec(cfg),
        vec(limits),
        vec(lot),
        vec(tick),
        vec(min_notional),
        np.full(k, FILL_OHLC, dtype=np.int64),
        np.zeros((k, 0)),
        _RISK_OFF if risk is None else risk,
    )


_RISK_OFF = risk_rules()
