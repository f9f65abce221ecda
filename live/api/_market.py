"""The web console's market routes (read token): price with regimes and events, and the
order-book heat map, from ``grekko_research.analysis`` over real data.

Series come from three places, each listed by ``GET /market/series`` with an id the other
routes take (looked up in that listing, never joined to a path):

* ``store/<exchange>/<market>/<BASE-QUOTE>/<timeframe>``: a candle series of the Parquet store
  (``GREKKO_DATA_DIR``), read with the store's validating loader;
* ``shared/<file name>``: a candle file of the shared data folder (``GREKKO_SHARED_DATA``'s
  ``ohlcv/``), read and validated as ``grekko data import`` would, without importing it (a
  read route writes nothing);
* ``run/<BASE-QUOTE>``: the bars the served run has closed (its ``bar_closed`` events).

Depth captures (``GET /market/captures``) are the shared folder's L2 captures; the heat map
rebuilds the book with the library's replay (:func:`~grekko_research.analysis.book.rebuild_book`)
and samples its depth (:mod:`grekko_research.analysis.depthmap`). Responses are bounded: the
chart draws at most ``points`` OHLCV points and ``max_events`` events, the heat map at most
600 × 200 cells and 500 spoofing candidates. Results are kept (a few per route) while their
source is unchanged.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from grekko_research.data.timeframes import to_ms
from grekko_research.errors import ConfigError, DataError
from grekko_research.paths import data_dir as default_data_dir
from grekko_research.paths import shared_data_dir
from live.api._market_chart import HMM_MAX_BARS, market_chart
from live.api.hub import LogHub

__all__ = ["add_market_routes"]

_MAX_SPOOFS = 500
_NOT_FOUND: dict[str, Any] = {"description": "No such series or capture (see the listings)"}
_BAD: dict[str, Any] = {"description": "A parameter is invalid, or the data cannot be read"}


# -- response models --------------------------------------------------------------------------


class MarketSeries(BaseModel):
    id: str = Field(description="What /market/chart takes as series")
    source: Literal["store", "shared", "run"]
    exchange: str | None
    market: str | None
    symbol: str
    timeframe: str | None
    label: str


class MarketEvent(BaseModel):
    ts: int = Field(description="The bar it was detected on (open time, ms)")
    kind: str = Field(
        description="capitulation, bull_trap, selling_climax, buying_climax, spring, upthrust, "
        "breakout_up, breakout_down"
    )
    price: float = Field(description="Where it is drawn (the bar's close; a trap's breakout)")
    confirmed_ts: int | None = Field(description="The bar it became knowable on, if later")
    detail: str


class RegimeBand(BaseModel):
    start: int = Field(description="First bar's open, ms")
    end: int = Field(description="The next band's start (or the last bar's close), ms")
    label: str


class MarketChart(BaseModel):
    series: str
    label: str
    timeframe: str | None
    regime: Literal["wyckoff", "hmm"]
    regimes: list[str] = Field(description="The band labels, in code order")
    bars_total: int = Field(description="Bars analysed (the whole window)")
    bars_per_point: int = Field(description="Bars per drawn OHLCV point")
    bar_ms: int
    bands_coarsened: bool = Field(description="Bands follow the drawn points, not every bar")
    t: list[int] = Field(description="Each point's first bar open, ms")
    o: list[float]
    h: list[float]
    l: list[float]  # noqa: E741 - the OHLCV letters
    c: list[float]
    v: list[float]
    bands: list[RegimeBand]
    events: list[MarketEvent] = Field(description="The latest max_events, oldest first")
    event_counts: dict[str, int] = Field(description="Every event of the window, by kind")


class DepthCapture(BaseModel):
    id: str = Field(description="What /market/book takes as capture")
    exchange: str
    market: str
    symbol: str
    window: str
    trades: bool = Field(description="Whether a trades capture of the same window exists")


class SpoofMark(BaseModel):
    ts: int = Field(description="When it was placed (local receive time, ms)")
    pulled_ts: int
    side: Literal["bid", "ask"]
    price: float
    qty: float
    notional: float
    life_s: float


class BookHeatMap(BaseModel):
    capture: str
    tick_size: float
    times: list[int] = Field(description="Each column's end (local receive time, ms)")
    price_edges: list[float] = Field(description="Bin i holds [edges[i], edges[i+1])")
    qty: list[list[float | None]] = Field(
        description="Resting base quantity, one row per price bin (lowest first), one value "
        "per column; null where the book was not known"
    )
    max_qty: float
    best_bid: list[float | None]
    best_ask: list[float | None]
    trade_vwap: list[float | None] = Field(description="Traded price per column (null: none)")
    trade_high: list[float | None]
    trade_low: list[float | None]
    buy_qty: list[float]
    sell_qty: list[float]
    trades: int
    spoofs: list[SpoofMark] = Field(description="Spoofing candidates, the largest first")
    spoofs_total: int
    events: int
    gaps: int
    checked: int = Field(description="Applied events whose top of book was cross-checked")
    mismatches: int = Field(description="Of those, where the map's book differed (0 expected)")


# -- sources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    info: MarketSeries
    load: Callable[[int | None, int | None], pd.DataFrame]  # (start, end) ms -> bars
    version: Callable[[], Any]  # changes when the data does


def _file_version(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def _window(frame: pd.DataFrame, start: int | None, end: int | None) -> pd.DataFrame:
    ts = frame["timestamp"]
    keep = (ts >= (start if start is not None else ts.min())) & (
        ts < (end if end is not None else ts.max() + 1)
    )
    return frame[keep]


class _Sources:
    """Where the market routes read: the store, the shared folder, the served run."""

    def __init__(self, hub: LogHub, data: Path | None, shared: Path | None) -> None:
        self.hub, self._data, self._shared = hub, data, shared

    def data(self) -> Path:
        return self._data or default_data_dir()

    def shared(self) -> Path | None:
        return self._shared or shared_data_dir()

    def series(self) -> dict[str, _Series]:
        out: dict[str, _Series] = {}
        for s in [*self._store(), *self._shared_files(), *self._run()]:
            out.setdefault(s.info.id, s)
        return out

    def _store(self) -> list[_Series]:
        from grekko_research.data.load import load_frame
        from grekko_research.data.store import ParquetStore

        store = ParquetStore(self.data())
        out = []
        for key in store.series():
            if key.kind != "ohlcv":
                continue

            def load(start: int | None, end: int | None, key: Any = key) -> pd.DataFrame:
                return load_frame(key, store=store, start=start, end=end)[0]

            path = store.path(key)
            sid = f"store/{key.exchange}/{key.market}/{key.symbol_dir}/{key.timeframe}"
            info = MarketSeries(
                id=sid,
                source="store",
                exchange=key.exchange,
                market=key.market,
                symbol=key.symbol,
                timeframe=key.timeframe,
                label=f"{key.label()} (store)",
            )
            out.append(_Series(info, load, partial(_file_version, path)))
        return out

    def _shared_files(self) -> list[_Series]:
        from grekko_research.data.files import parse_data_filename, read_data_file
        from grekko_research.data.validate import validate_frame

        root = self.shared()
        folder = root / "ohlcv" if root is not None else None
        if folder is None or not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.iterdir()):
            parsed = parse_data_filename(path) if path.is_file() else None
            if parsed is None or parsed.key.kind != "ohlcv":
                continue
            key = parsed.key

            def load(start: int | None, end: int | None, p: Path = path, k: Any = key) -> Any:
                frame = read_data_file(p, k)
                validate_frame(frame, k, str(p))  # raises naming the file, row and rule
                return _window(frame, start, end)

            info = MarketSeries(
                id=f"shared/{path.name}",
                source="shared",
                exchange=key.exchange,
                market=key.market,
                symbol=key.symbol,
                timeframe=key.timeframe,
                label=f"{key.label()} ({parsed.source}, shared data)",
            )
            out.append(_Series(info, load, partial(_file_version, path)))
        return out

    def _run(self) -> list[_Series]:
        fold, recent = self.hub.fold, self.hub.recent
        run = fold.run or {}
        out = []
        for j, symbol in enumerate(fold.symbols):

            def load(start: int | None, end: int | None, j: int = j) -> pd.DataFrame:
                rows = recent.bars(j)
                frame = pd.DataFrame(
                    rows, columns=["timestamp", "open", "high", "low", "close", "volume"]
                )
                return _window(frame, start, end)

            info = MarketSeries(
                id=f"run/{symbol.replace('/', '-')}",
                source="run",
                exchange=run.get("venue"),
                market=None,
                symbol=symbol,
                timeframe=run.get("timeframe"),
                label=f"{symbol} {run.get('timeframe') or ''} (this run's bars)".replace("  ", " "),
            )
            out.append(_Series(info, load, lambda: self.hub.fold.last_seq))
        return out

    def captures(self) -> dict[str, DepthCapture]:
        from grekko_research.analysis.captures import find_captures

        root = self.shared()
        if root is None or not (root / "orderbook").is_dir():
            return {}
        out = {}
        for name in find_captures(root):
            head, _, _ = name.partition("__")
            parts = head.split("_")
            venue, symbol, window = [*parts, "", "", ""][:3]
            exchange, _, market = venue.partition("-")
            out[name] = DepthCapture(
                id=name,
                exchange=exchange,
                market=market,
                symbol=symbol.replace("-", "/", 1),
                window=window,
                trades=(root / "trades" / f"{name}_trades.csv").is_file(),
            )
        return out


class _Memo:
    """A few results kept by key (least recently used dropped), safe across threads."""

    def __init__(self, keep: int) -> None:
        self.keep, self._items, self._lock = keep, OrderedDict[Any, Any](), threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.keep:
                self._items.popitem(last=False)
        return value


# -- routes -----------------------------------------------------------------------------------


def _time(name: str, text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        return to_ms(text)
    except ConfigError as e:
        raise HTTPException(422, f"{name}: {e}") from e


def _nulls(a: np.ndarray, digits: int = 8) -> list[float | None]:
    return [None if not np.isfinite(x) else float(f"{x:.{digits}g}") for x in a]


def add_market_routes(
    app: FastAPI,
    hub: LogHub,
    read: list[Any],
    errors: dict[int | str, dict[str, Any]],
    *,
    data_dir: Path | None = None,
    shared_dir: Path | None = None,
) -> None:
    """``/market/series``, ``/market/chart``, ``/market/captures``, ``/market/book``."""
    sources = _Sources(hub, data_dir, shared_dir)
    charts, books, maps = _Memo(16), _Memo(3), _Memo(16)
    responses = {**errors, 404: _NOT_FOUND, 422: _BAD}

    @app.get("/market/series", dependencies=read, responses=errors)
    async def market_series() -> list[MarketSeries]:
        """The candle series the price chart can draw: the store's, the shared data's, the
        served run's."""
        found = await asyncio.to_thread(sources.series)
        return [s.info for s in found.values()]

    @app.get("/market/chart", dependencies=read, responses=responses)
    async def market_chart_route(
        series: Annotated[
            str, Query(min_length=1, max_length=300, description="An id of /market/series")
        ],
        regime: Annotated[
            Literal["wyckoff", "hmm"],
            Query(
                description=f"Bands: Wyckoff phases, or walk-forward HMM states (≤ {HMM_MAX_BARS} bars)"
            ),
        ] = "wyckoff",
        start: Annotated[
            str | None, Query(max_length=40, description="From (date, ISO time or ms; inclusive)")
        ] = None,
        end: Annotated[str | None, Query(max_length=40, description="To (exclusive)")] = None,
        points: Annotated[int, Query(ge=50, le=5000, description="Most OHLCV points drawn")] = 1500,
        max_events: Annotated[int, Query(ge=0, le=2000, description="Most events returned")] = 500,
    ) -> MarketChart:
        """Price of one series with its regimes as bands and the detected events (capitulations,
        bull traps, Wyckoff climaxes, springs and upthrusts, volatility breakouts)."""
        lo, hi = _time("start", start), _time("end", end)
        if lo is not None and hi is not None and hi <= lo:
            raise HTTPException(422, f"end ({end}) must be after start ({start})")

        def compute() -> MarketChart:
            found = sources.series().get(series)
            if found is None:
                raise HTTPException(404, f"no series {series!r}: GET /market/series lists them")
            key = (series, found.version(), regime, lo, hi, points, max_events)

            def make() -> MarketChart:
                try:
                    frame = found.load(lo, hi)
                    out = market_chart(frame, regime=regime, points=points, max_events=max_events)
                except (ConfigError, DataError) as e:
                    raise HTTPException(422, f"{series}: {e}") from e
                info = found.info
                return MarketChart(series=series, label=info.label, timeframe=info.timeframe, **out)

            return charts.get(key, make)

        return await asyncio.to_thread(compute)

    @app.get("/market/captures", dependencies=read, responses=errors)
    async def market_captures() -> list[DepthCapture]:
        """The L2 depth captures of the shared data folder (snapshot + diffs)."""
        return list((await asyncio.to_thread(sources.captures)).values())

    @app.get("/market/book", dependencies=read, responses=responses)
    async def market_book(
        capture: Annotated[
            str, Query(min_length=1, max_length=300, description="An id of /market/captures")
        ],
        times: Annotated[int, Query(ge=20, le=600, description="Time columns")] = 240,
        prices: Annotated[int, Query(ge=20, le=200, description="Price bins")] = 100,
        span_bps: Annotated[
            float, Query(ge=0, le=500, description="Reach beyond the mid's range, basis points")
        ] = 10.0,
    ) -> BookHeatMap:
        """Depth over time of a capture's rebuilt book, with the traded price and the spoofing
        candidates."""

        def compute() -> BookHeatMap:
            if capture not in sources.captures():
                raise HTTPException(404, f"no capture {capture!r}: GET /market/captures lists them")
            root = sources.shared()
            assert root is not None  # the capture was listed from it
            built = books.get((str(root), capture), lambda: _rebuild(root, capture))
            return maps.get(
                (str(root), capture, times, prices, span_bps),
                lambda: _heat_map(built, times, prices, span_bps),
            )

        return await asyncio.to_thread(compute)


def _rebuild(root: Path, name: str) -> tuple[Any, Any, pd.DataFrame]:
    from grekko_research.analysis.book import rebuild_book, spoofing_candidates
    from grekko_research.analysis.captures import read_capture

    try:
        cap = read_capture(root, name)
        replay = rebuild_book(cap)
    except (ConfigError, DataError) as e:
        raise HTTPException(422, f"{name}: {e}") from e
    return cap, replay, spoofing_candidates(replay, cap.trades)


def _heat_map(
    built: tuple[Any, Any, pd.DataFrame], times: int, prices: int, span: float
) -> BookHeatMap:
    from grekko_research.analysis.depthmap import depth_map

    cap, replay, spoofs = built
    try:
        dm = depth_map(cap, replay, times=times, prices=prices, span_bps=span)
    except (ConfigError, DataError) as e:
        raise HTTPException(422, f"{cap.name}: {e}") from e
    lo, hi = dm.price_edges[0], dm.price_edges[-1]
    shown = spoofs[(spoofs["price"] >= lo) & (spoofs["price"] < hi)] if len(spoofs) else spoofs
    shown = (
        shown.sort_values("notional", ascending=False).head(_MAX_SPOOFS) if len(shown) else shown
    )
    marks = [
        SpoofMark(
            ts=int(r["place_ts"]) // 1_000_000,
            pulled_ts=int(r["pull_ts"]) // 1_000_000,
            side=r["side"],
            price=float(r["price"]),
            qty=float(r["qty"]),
            notional=float(r["notional"]),
            life_s=float(r["life_s"]),
        )
        for r in shown.to_dict("records")
    ]
    qty = [_nulls(row, 6) for row in dm.qty]
    n_trades = 0 if cap.trades is None else len(cap.trades)
    return BookHeatMap(
        capture=cap.name,
        tick_size=replay.tick_size,
        times=[int(t) // 1_000_000 for t in dm.times_ns],
        price_edges=[float(f"{x:.10g}") for x in dm.price_edges],
        qty=qty,
        max_qty=float(np.nanmax(dm.qty)) if np.isfinite(dm.qty).any() else 0.0,
        best_bid=_nulls(dm.best_bid),
        best_ask=_nulls(dm.best_ask),
        trade_vwap=_nulls(dm.trades_vwap),
        trade_high=_nulls(dm.trades_high),
        trade_low=_nulls(dm.trades_low),
        buy_qty=[float(f"{x:.8g}") for x in dm.buy_qty],
        sell_qty=[float(f"{x:.8g}") for x in dm.sell_qty],
        trades=n_trades,
        spoofs=marks,
        spoofs_total=len(spoofs),
        events=len(replay.events),
        gaps=len(replay.gaps),
        checked=dm.checked,
        mismatches=dm.mismatches,
    )
