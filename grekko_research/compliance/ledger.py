"""The normalised trade ledger: every fill, fee, funding payment and gas cost of a run, in one
shape whatever produced it (a backtest's run folder, a live run's event log).

Money is :class:`~decimal.Decimal` end to end (a float's 0.1 is not a cent); each entry carries its
value in the quote currency and, through a :class:`Rates` table, in the *reporting* currency (the
one the tax report is in: ``USD`` with USDT at 1, ``EUR`` from a rate file …).

A backtest's ``trades.parquet`` holds round trips: each becomes an opening and a closing fill at
the trade's average prices and size, its fees split between the two in proportion to notional
(exact for proportional fees; the total is always kept) and its funding one ``funding`` entry at
the exit (positive ``funding`` is paid). Live logs are read by ``live/compliance/ledger.py``
(the research library never imports the live bridge) into the same entries.
"""

from __future__ import annotations

import bisect
import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from grekko_research.errors import ConfigError, DataError

__all__ = [
    "LEDGER_COLUMNS",
    "EntryKind",
    "LedgerEntry",
    "Rates",
    "ledger_from_backtest_run",
    "read_ledger_csv",
    "write_ledger_csv",
]

EntryKind = Literal["fill", "funding", "gas"]
Market = Literal["spot", "perp"]
ZERO = Decimal(0)


def dec(value: object) -> Decimal:
    """A Decimal of a float by its shortest repr (``0.1`` → ``Decimal('0.1')``), not its binary
    expansion; of a string or int exactly."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


@dataclass(frozen=True)
class Rates:
    """Quote → reporting currency rates, as of each time (the last rate at or before it)."""

    currency: str
    times_ms: tuple[int, ...] = ()
    values: tuple[Decimal, ...] = ()
    constant: Decimal | None = Decimal(1)

    def at(self, ts_ms: int) -> Decimal:
        if self.constant is not None:
            return self.constant
        i = bisect.bisect_right(self.times_ms, ts_ms) - 1
        if i < 0:
            raise DataError(
                f"no {self.currency} rate at or before {_iso(ts_ms)} (first: {_iso(self.times_ms[0])})"
            )
        return self.values[i]

    @classmethod
    def from_csv(cls, path: Path, currency: str) -> Rates:
        """``timestamp,rate`` rows (ms UTC, reporting currency per quote unit)."""
        times, values = [], []
        with path.open(newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.DictReader(f), start=2):
                try:
                    times.append(int(row["timestamp"]))
                    values.append(Decimal(row["rate"]))
                except (KeyError, ValueError, ArithmeticError) as e:
                    raise DataError(f"{path}:{n}: need timestamp,rate ({e})") from None
        if not times or times != sorted(times):
            raise DataError(f"{path}: rates must be non-empty and sorted by timestamp")
        return cls(currency, tuple(times), tuple(values), None)


@dataclass(frozen=True)
class LedgerEntry:
    """One fill, funding payment or gas cost.

    ``qty`` base units (fills; 0 otherwise), ``price`` quote per base; ``fee`` in
    ``fee_asset`` and ``fee_quote`` its value in quote; ``amount_quote`` a funding or gas amount
    in quote, signed (+ received, − paid); ``rate`` quote → reporting currency at ``ts_ms``.
    """

    ts_ms: int
    kind: EntryKind
    venue: str
    market: Market
    symbol: str
    side: Literal["buy", "sell", ""]
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    fee_quote: Decimal
    amount_quote: Decimal
    rate: Decimal
    ref: str

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1].split(":")[0]

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price

    @property
    def fee_reporting(self) -> Decimal:
        return self.fee_quote * self.rate


LEDGER_COLUMNS = (
    "time_utc", "ts_ms", "kind", "venue", "market", "symbol", "side", "qty", "price",
    "notional_quote", "fee", "fee_asset", "fee_quote", "fee_reporting", "amount_quote",
    "rate", "ref",
)  # fmt: skip


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def write_ledger_csv(entries: Sequence[LedgerEntry], path: Path) -> Path:
    """The ledger as CSV (:data:`LEDGER_COLUMNS`; exact decimals, UTC times)."""
    from grekko_research._atomic import atomic_path

    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(LEDGER_COLUMNS)
        for e in entries:
            w.writerow([_iso(e.ts_ms), e.ts_ms, e.kind, e.venue, e.market, e.symbol, e.side,
                        e.qty, e.price, e.notional, e.fee, e.fee_asset, e.fee_quote,
                        e.fee_reporting, e.amount_quote, e.rate, e.ref])  # fmt: skip
    return path


def read_ledger_csv(path: Path) -> list[LedgerEntry]:
    """A ledger written by :func:`write_ledger_csv` (e.g. by ``grekko-live report trades``)."""
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != LEDGER_COLUMNS:
            raise DataError(f"{path}: not a Grekko ledger (columns {reader.fieldnames})")
        for n, r in enumerate(reader, start=2):
            try:
                out.append(LedgerEntry(int(r["ts_ms"]), r["kind"], r["venue"], r["market"],  # type: ignore[arg-type]
                                       r["symbol"], r["side"], Decimal(r["qty"]),  # type: ignore[arg-type]
                                       Decimal(r["price"]), Decimal(r["fee"]), r["fee_asset"],
                                       Decimal(r["fee_quote"]), Decimal(r["amount_quote"]),
                                       Decimal(r["rate"]), r["ref"]))  # fmt: skip
            except (KeyError, ValueError, ArithmeticError) as e:
                raise DataError(f"{path}:{n}: {e}") from None
    return out


def with_rates(entries: Iterable[LedgerEntry], rates: Rates) -> list[LedgerEntry]:
    """The entries valued at ``rates``."""
    return [replace(e, rate=rates.at(e.ts_ms)) for e in entries]


def _ms(value: Any) -> int:
    import pandas as pd

    return int(pd.Timestamp(value).value // 1_000_000)


def ledger_from_backtest_run(folder: Path, *, venue: str | None = None) -> list[LedgerEntry]:
    """The ledger of a backtest run folder (``trades.parquet`` + ``config.yaml``)."""
    import pandas as pd
    import yaml  # type: ignore[import-untyped]

    folder = Path(folder)
    trades_path, config_path = folder / "trades.parquet", folder / "config.yaml"
    for p in (trades_path, config_path):
        if not p.is_file():
            raise DataError(f"{folder}: not a backtest run folder (no {p.name})")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    data = config.get("data") or {}
    venue = venue or str(
        (config.get("exchange") or {}).get("name") or data.get("exchange") or "backtest"
    )
    trades = pd.read_parquet(trades_path)
    perp = bool(data.get("funding")) or bool((trades["direction"] < 0).any())
    market: Market = "perp" if perp else "spot"
    # refs name the configuration (stable across re-runs), not the folder's timestamp
    run = str(provenance(folder).get("config_id") or folder.name)
    out: list[LedgerEntry] = []
    for i, t in enumerate(trades.itertuples(index=False)):
        symbol = str(t.symbol)
        if "/" not in symbol:
            raise DataError(f"{trades_path}: row {i}: symbol {symbol!r} is not BASE/QUOTE")
        quote = symbol.split("/")[1].split(":")[0]
        size, entry_p = dec(t.size), dec(t.entry_price)
        fees, funding = dec(t.fees), dec(t.funding)
        opened = _ms(t.entry_time)
        side_open: Literal["buy", "sell"] = "buy" if float(str(t.direction)) > 0 else "sell"
        side_close: Literal["buy", "sell"] = "sell" if side_open == "buy" else "buy"
        closed = not bool(t.is_open)
        exit_p = dec(t.exit_price) if closed else ZERO
        n_open, n_close = size * entry_p, size * exit_p
        fee_open = (
            fees if not closed or n_open + n_close == 0 else fees * n_open / (n_open + n_close)
        )
        fee_close = fees - fee_open
        ref = f"{run}#{i}"
        out.append(LedgerEntry(opened, "fill", venue, market, symbol, side_open, size, entry_p,
                               fee_open, quote, fee_open, ZERO, Decimal(1), f"{ref}:open"))  # fmt: skip
        if closed:
            shut = _ms(t.exit_time)
            out.append(LedgerEntry(shut, "fill", venue, market, symbol, side_close, size, exit_p,
                                   fee_close, quote, fee_close, ZERO, Decimal(1), f"{ref}:close"))  # fmt: skip
            if funding != 0:
                out.append(LedgerEntry(shut, "funding", venue, market, symbol, "", ZERO, ZERO,
                                       ZERO, quote, ZERO, -funding, Decimal(1), f"{ref}:funding"))  # fmt: skip
    out.sort(key=lambda e: (e.ts_ms, e.ref))
    return out


def provenance(folder: Path) -> dict[str, object]:
    """What the run folder says about itself (config id, data hash, code version)."""
    path = Path(folder) / "provenance.json"
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None
