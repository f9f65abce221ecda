"""Tax-tool CSV exports of a ledger: Koinly's universal layout and CoinTracking's CSV import.

Koinly (universal template), columns::

    Date, Sent Amount, Sent Currency, Received Amount, Received Currency, Fee Amount,
    Fee Currency, Net Worth Amount, Net Worth Currency, Label, Description, TxHash

CoinTracking (CSV import, "Trade Table" columns)::

    Type, Buy Amount, Buy Currency, Sell Amount, Sell Currency, Fee, Fee Currency, Exchange,
    Trade-Group, Comment, Date, Tx-ID

Rows, both formats (dates ``YYYY-MM-DD HH:MM:SS``, UTC; Koinly's with `` UTC``):

* spot buy — sent quote, received base (CoinTracking ``Trade``: buy base, sell quote); spot sell
  the reverse; the fee in its own asset;
* perp (and any short) — tax tools treat derivatives as P&L, not as asset swaps: each closing
  fill becomes one realised P&L row in the quote currency of the position's FIFO gain *before*
  fees (Koinly ``realized gain``/``realized loss``; CoinTracking ``Derivatives / Futures
  Profit``/``Loss``), with the fill's fee as the row's fee;
* funding — Koinly ``realized gain``/``realized loss`` with description ``funding``;
  CoinTracking ``Derivatives / Futures Profit`` / ``Margin Fee``;
* gas — Koinly ``cost``; CoinTracking ``Other Fee``.

Amounts are exact decimals (no float rounding); the ``Net Worth`` column is the value in the
reporting currency.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from grekko_research.compliance.costbasis import realise
from grekko_research.compliance.ledger import LedgerEntry

__all__ = ["COINTRACKING_COLUMNS", "FORMATS", "KOINLY_COLUMNS", "cointracking_rows", "koinly_rows",
           "write_export"]  # fmt: skip

KOINLY_COLUMNS = ("Date", "Sent Amount", "Sent Currency", "Received Amount", "Received Currency",
                  "Fee Amount", "Fee Currency", "Net Worth Amount", "Net Worth Currency", "Label",
                  "Description", "TxHash")  # fmt: skip
COINTRACKING_COLUMNS = ("Type", "Buy Amount", "Buy Currency", "Sell Amount", "Sell Currency", "Fee",
                        "Fee Currency", "Exchange", "Trade-Group", "Comment", "Date", "Tx-ID")  # fmt: skip
FORMATS = ("koinly", "cointracking")
ZERO = Decimal(0)
_PLACES = Decimal("1e-10")


def _date(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _s(value: Decimal) -> str:
    """Plain decimal text to 10 decimal places (no exponent), trailing zeros dropped: tax
    tools read at most that many; totals here stay exact in the ledger and P&L files."""
    text = format(value.quantize(_PLACES).normalize(), "f")
    return text if text != "-0" else "0"


def _derivative_pnl(entries: Sequence[LedgerEntry]) -> dict[str, Decimal]:
    """Each perp closing fill's realised P&L before fees, in quote (FIFO), by entry ref."""
    perp = [e for e in entries if e.kind == "fill" and e.market == "perp"]
    gross = [
        LedgerEntry(e.ts_ms, e.kind, e.venue, e.market, e.symbol, e.side, e.qty, e.price, ZERO,
                    e.fee_asset, ZERO, ZERO, Decimal(1), e.ref)
        for e in perp
    ]  # fmt: skip
    out: dict[str, Decimal] = {}
    for d in realise(gross, "fifo", currency="quote").disposals:
        out[d.close_ref] = out.get(d.close_ref, ZERO) + d.gain
    return out


def koinly_rows(entries: Sequence[LedgerEntry], currency: str) -> list[dict[str, str]]:
    """Koinly universal-template rows of the ledger (see the module doc)."""
    pnl = _derivative_pnl(entries)
    rows = []
    for e in entries:
        row = dict.fromkeys(KOINLY_COLUMNS, "")
        row["Date"] = _date(e.ts_ms) + " UTC"
        row["TxHash"] = e.ref
        row["Net Worth Currency"] = currency
        if e.kind == "fill" and e.market == "spot":
            if e.side == "buy":
                row |= {"Sent Amount": _s(e.notional), "Sent Currency": e.quote,
                        "Received Amount": _s(e.qty), "Received Currency": e.base}  # fmt: skip
            else:
                row |= {"Sent Amount": _s(e.qty), "Sent Currency": e.base,
                        "Received Amount": _s(e.notional), "Received Currency": e.quote}  # fmt: skip
            row |= {"Fee Amount": _s(e.fee), "Fee Currency": e.fee_asset,
                    "Net Worth Amount": _s(e.notional * e.rate),
                    "Description": f"{e.side} {e.symbol} @ {_s(e.price)} on {e.venue}"}  # fmt: skip
        elif e.kind == "fill":  # perp: opening fills have no taxable row but their fee
            gain = pnl.get(e.ref)
            row |= {"Fee Amount": _s(e.fee), "Fee Currency": e.fee_asset,
                    "Description": f"{e.side} {e.symbol} @ {_s(e.price)} on {e.venue}"}  # fmt: skip
            if gain is None:
                row |= {"Sent Amount": _s(e.fee), "Sent Currency": e.fee_asset, "Label": "cost",
                        "Fee Amount": "", "Fee Currency": ""}  # opening: only its fee  # fmt: skip
            elif gain >= 0:
                row |= {"Received Amount": _s(gain), "Received Currency": e.quote,
                        "Label": "realized gain", "Net Worth Amount": _s(gain * e.rate)}  # fmt: skip
            else:
                row |= {"Sent Amount": _s(-gain), "Sent Currency": e.quote,
                        "Label": "realized loss", "Net Worth Amount": _s(-gain * e.rate)}  # fmt: skip
        else:
            amount = e.amount_quote
            if amount >= 0:
                row |= {"Received Amount": _s(amount), "Received Currency": e.quote,
                        "Label": "realized gain"}  # fmt: skip
            else:
                row |= {"Sent Amount": _s(-amount), "Sent Currency": e.quote,
                        "Label": "cost" if e.kind == "gas" else "realized loss"}  # fmt: skip
            row |= {"Net Worth Amount": _s(abs(amount) * e.rate),
                    "Description": f"{e.kind} {e.symbol} on {e.venue}"}  # fmt: skip
        rows.append(row)
    return rows


def cointracking_rows(entries: Sequence[LedgerEntry], currency: str) -> list[dict[str, str]]:
    """CoinTracking CSV-import rows of the ledger (see the module doc)."""
    pnl = _derivative_pnl(entries)
    rows = []
    for e in entries:
        row = dict.fromkeys(COINTRACKING_COLUMNS, "")
        row |= {"Exchange": e.venue, "Date": _date(e.ts_ms), "Tx-ID": e.ref,
                "Trade-Group": e.market}  # fmt: skip
        if e.kind == "fill" and e.market == "spot":
            buy, sell = ((e.qty, e.base), (e.notional, e.quote))
            if e.side == "sell":
                buy, sell = sell, buy
            row |= {"Type": "Trade", "Buy Amount": _s(buy[0]), "Buy Currency": buy[1],
                    "Sell Amount": _s(sell[0]), "Sell Currency": sell[1], "Fee": _s(e.fee),
                    "Fee Currency": e.fee_asset, "Comment": f"{e.side} {e.symbol} @ {_s(e.price)}"}  # fmt: skip
        elif e.kind == "fill":
            gain = pnl.get(e.ref, ZERO)
            row |= {"Fee": _s(e.fee), "Fee Currency": e.fee_asset,
                    "Comment": f"{e.side} {e.symbol} @ {_s(e.price)}"}  # fmt: skip
            if e.ref not in pnl:
                row |= {"Type": "Other Fee", "Sell Amount": _s(e.fee), "Sell Currency": e.fee_asset,
                        "Fee": ""}  # fmt: skip
            elif gain >= 0:
                row |= {"Type": "Derivatives / Futures Profit", "Buy Amount": _s(gain),
                        "Buy Currency": e.quote}  # fmt: skip
            else:
                row |= {"Type": "Derivatives / Futures Loss", "Sell Amount": _s(-gain),
                        "Sell Currency": e.quote}  # fmt: skip
        else:
            amount = e.amount_quote
            if amount >= 0:
                row |= {"Type": "Derivatives / Futures Profit", "Buy Amount": _s(amount),
                        "Buy Currency": e.quote}  # fmt: skip
            else:
                row |= {"Type": "Other Fee" if e.kind == "gas" else "Margin Fee",
                        "Sell Amount": _s(-amount), "Sell Currency": e.quote}  # fmt: skip
            row["Comment"] = f"{e.kind} {e.symbol}"
        rows.append(row)
    return rows


def write_export(entries: Sequence[LedgerEntry], fmt: str, path: Path, currency: str) -> Path:
    """Write ``entries`` as ``fmt`` (``koinly`` or ``cointracking``) CSV at ``path``."""
    from grekko_research._atomic import atomic_path

    if fmt == "koinly":
        columns, rows = KOINLY_COLUMNS, koinly_rows(entries, currency)
    elif fmt == "cointracking":
        columns, rows = COINTRACKING_COLUMNS, cointracking_rows(entries, currency)
    else:
        from grekko_research.errors import ConfigError

        raise ConfigError(f"export format {fmt!r}: one of {', '.join(FORMATS)}")
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, quoting=csv.QUOTE_MINIMAL)
        w.writeheader()
        w.writerows(rows)
    return path
