"""AMMs: exact Uniswap V2/V3 math, pool-event decoding, pool state replayed from logs.

``PoolState.quote`` is the one quote (backtest fill rule, ``grekko dex quote``, the live
pre-trade gate); ``_nb`` is its float64 numba copy for speed, tested against it. See
docs/dex.md. Nothing here imports web3 except ``download`` (the node adapter).
"""

from grekko_research.dex.events import PoolEvent, decode_log, decode_rpc_log, read_raw_logs
from grekko_research.dex.pool import PoolState, Quote
from grekko_research.dex.replay import ReplayReport, replay

__all__ = [
    "PoolEvent",
    "PoolState",
    "Quote",
    "ReplayReport",
    "decode_log",
    "decode_rpc_log",
    "read_raw_logs",
    "replay",
]
