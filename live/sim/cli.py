"""Run the simulator on real candles from the shared data folder, with a moving market clock.

``run_sim(["BTC/USDT"], "1h", speed=3600)`` loads ``ohlcv/binance-spot_BTC-USDT_1h__*.csv(.gz)``
(and any ``trades/binance-spot_BTC-USDT_*trades*.csv`` to replay), serves the Binance spot
REST API and websockets on ``host:port``, prints the URLs (never the credentials: it says
where they come from), and replays the candles at ``speed`` × wall time until interrupted (the
REST API stays up after the data ends).

Test credentials: the simulator accepts exactly the API key and secret it is given —
``grekko-live sim`` takes them from ``GREKKO_BINANCE_API_KEY`` / ``GREKKO_BINANCE_API_SECRET``,
the variables ``grekko-live run --venue binance`` reads, so one ``export`` serves both (any
values of at least 6 characters; never real ones).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from live.sim.server import Simulator, start_simulator

__all__ = ["default_data_dir", "load_candles", "load_trades", "run_sim", "symbol_id"]

_REPO = Path(__file__).resolve().parents[2]
_TRADE_COLUMNS = {  # the two layouts of Binance trades in the shared folder → ours
    "trade_ts_ms": "timestamp",
    "timestamp_ms": "timestamp",
    "quantity": "qty",
}


def default_data_dir() -> Path:
    """``$GREKKO_SHARED_DATA`` if set, else ``../shared/data`` beside the repository."""
    return Path(os.environ.get("GREKKO_SHARED_DATA") or _REPO.parent / "shared" / "data").resolve()


def symbol_id(symbol: str) -> str:
    """Binance's id of a unified spot symbol: ``"BTC/USDT"`` → ``"BTCUSDT"``."""
    base, sep, quote = symbol.upper().partition("/")
    if not sep or not base or not quote or ":" in quote:
        raise ValueError(f"expected a unified spot symbol such as 'BTC/USDT', got {symbol!r}")
    return base + quote


def _file_stem(symbol: str) -> str:
    return "binance-spot_" + symbol.upper().replace("/", "-")


def load_candles(
    symbol: str, timeframe: str, data_dir: Path | None = None, start_ms: int | None = None
) -> pd.DataFrame:
    """Binance spot candles of ``symbol`` at ``timeframe`` from ``<data_dir>/ohlcv``.

    Of the files named ``binance-spot_<BASE>-<QUOTE>_<timeframe>__<source>.csv[.gz]``, the
    longest that covers ``start_ms`` (if given) is read. Raises ``FileNotFoundError`` naming
    the pattern and what the folder does hold for the symbol when nothing matches.
    """
    folder = (data_dir or default_data_dir()) / "ohlcv"
    stem = _file_stem(symbol)
    pattern = f"{stem}_{timeframe}__*.csv*"
    paths = sorted(p for p in folder.glob(pattern) if p.name.endswith((".csv", ".csv.gz")))
    if not paths:
        others = sorted(
            {p.name.split("__")[0].rsplit("_", 1)[-1] for p in folder.glob(f"{stem}_*")}
        )
        held = f"; timeframes there for {symbol}: {', '.join(others)}" if others else ""
        raise FileNotFoundError(f"no candles for {symbol} {timeframe}: {folder / pattern}{held}")
    best: pd.DataFrame | None = None
    for path in paths:
        frame = pd.read_csv(path)
        missing = {"timestamp", "open", "high", "low", "close"} - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(sorted(missing))}")
        covers = start_ms is None or int(frame.timestamp.iloc[0]) <= start_ms
        covers = covers and (start_ms is None or start_ms < int(frame.timestamp.iloc[-1]))
        if covers and (best is None or len(frame) > len(best)):
            best = frame
    if best is None:  # only possible with a start_ms
        when = pd.Timestamp(start_ms or 0, unit="ms", tz="UTC")
        raise FileNotFoundError(f"no {symbol} {timeframe} candles in {folder} cover {when}")
    return best.reset_index(drop=True)


def load_trades(symbol: str, data_dir: Path | None = None) -> pd.DataFrame | None:
    """Public Binance spot trades of ``symbol`` from ``<data_dir>/trades`` (all files), or None.

    Columns: ``timestamp`` (ms), ``trade_id``, ``price``, ``qty``, ``is_buyer_maker``.
    """
    folder = (data_dir or default_data_dir()) / "trades"
    frames = []
    for path in sorted(folder.glob(f"{_file_stem(symbol)}_*trades*.csv*")):
        frame = pd.read_csv(path).rename(columns=_TRADE_COLUMNS)
        wanted = ["timestamp", "trade_id", "price", "qty", "is_buyer_maker"]
        if set(wanted) <= set(frame.columns):
            frames.append(frame[wanted])
    if not frames:
        return None
    trades = pd.concat(frames, ignore_index=True)
    trades["is_buyer_maker"] = trades["is_buyer_maker"].astype(str).str.lower() == "true"
    return trades.drop_duplicates("trade_id").sort_values(["timestamp", "trade_id"])


def run_sim(
    symbols: list[str],
    timeframe: str = "1h",
    start: str | None = None,
    speed: float = 3600.0,
    host: str = "127.0.0.1",
    port: int = 8765,
    api_key: str = "sim-key",
    api_secret: str = "sim-secret",
    balances: Mapping[str, str | Decimal] | None = None,
    faults: Mapping[str, Mapping[str, Any]] | None = None,
    data_dir: str | Path | None = None,
    *,
    echo: Callable[[str], None] | None = None,
    on_ready: Callable[[Simulator], None] | None = None,
    credentials_from: str = "the api_key and api_secret given",
) -> None:
    """Serve a simulated Binance spot venue with a moving market clock; block until stopped.

    Parameters
    ----------
    symbols
        Unified spot symbols, e.g. ``["BTC/USDT", "ETH/USDT"]``.
    timeframe
        Candle files to replay (``1h`` reads ``..._1h__*.csv.gz``).
    start
        First market time (ISO date/time, UTC); the latest first candle of the symbols if None.
    speed
        Market milliseconds per wall millisecond (3600: an hour a second).
    host, port
        Where to listen (port 0: a free one; the URL printed says which).
    api_key, api_secret
        The credentials the simulator accepts.
    balances, faults
        Starting balances (``{"USDT": "10000"}`` by default) and faults active from the start
        (``{kind: {param: value}}``, see :meth:`Simulator.set_fault`).
    data_dir
        The shared data folder (:func:`default_data_dir` if None).
    echo, on_ready
        Where the banner goes; a callback given the running :class:`Simulator` (it stops when
        :meth:`Simulator.close` is called, or on Ctrl-C).
    credentials_from
        Where the credentials came from, for the banner (which never shows them).
    """
    if echo is None:  # each line at once, also into a pipe (a script waiting for the URL)
        echo = functools.partial(print, flush=True)
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    start_ms = None if start is None else _to_ms(start)
    ids = {symbol: symbol_id(symbol) for symbol in symbols}
    if not ids:
        raise ValueError("run_sim: give at least one symbol")
    candles = {ids[s]: load_candles(s, timeframe, folder, start_ms) for s in symbols}
    trades = {ids[s]: t for s in symbols if (t := load_trades(s, folder)) is not None}
    if start_ms is None:
        start_ms = max(int(frame.timestamp.iloc[0]) for frame in candles.values())

    async def main() -> None:
        sim = await start_simulator(
            host,
            port,
            candles=candles,
            api_key=api_key,
            api_secret=api_secret,
            faults=faults,
            balances=balances,
            start_ms=start_ms,
            trades=trades,
            market_time=True,
        )
        try:
            clock = sim.run_clock(speed=speed)
            when = pd.Timestamp(start_ms, unit="ms", tz="UTC").isoformat()
            echo(f"Binance spot simulator: REST {sim.url}  websockets {sim.ws_url}/ws")
            echo(f"  websocket API {sim.ws_url}/ws-api/v3")
            echo(f"  accepts the API key and secret of {credentials_from} (not shown)")
            echo(f"  {', '.join(symbols)} {timeframe} from {when} at {speed:g}x; Ctrl-C to stop")
            if on_ready is not None:
                on_ready(sim)
            closing = asyncio.ensure_future(sim.wait_closed())
            await asyncio.wait({clock, closing}, return_when=asyncio.FIRST_COMPLETED)
            if clock.done() and not clock.cancelled() and not closing.done():
                end = pd.Timestamp(sim.book.now, unit="ms", tz="UTC").isoformat()
                echo(f"  end of data at {end}; still serving the REST API and websockets")
            await closing
        finally:
            await sim.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        echo("simulator stopped")


def _to_ms(text: str) -> int:
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)
