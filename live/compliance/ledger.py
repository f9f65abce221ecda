"""A live run's event log as the normalised ledger (:mod:`grekko_research.compliance.ledger`).

* CEX / paper / DEX orders: the order manager's own fold of the log
  (:meth:`~live.orders.OrderManager.replay`, the one fold the runner restarts from), each fill
  with its order's symbol and side. A fee in the quote or base asset is valued at the fill; a DEX
  fill's fee is the gas paid in the chain's native token, which becomes a ``gas`` entry valued
  at the fill's price when the pair holds the native token or its wrapped form (else left at 0
  and named ``unvalued`` in its ref — the operator must value it).
* Perpetual funding: the runner's ``funding`` events (each settlement the venue reported), one
  ``funding`` entry each, signed as the venue booked it.
* Solana sniper runs: ``sniper_fill`` events (SOL per token from the exact lamports, the launch
  program's fee included in them; the network's priority fee is not in the log).

Dry-run sniper fills and paper fills are ledger entries too (their venue says so): a tax export
of a paper run is a rehearsal, not a filing.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal

from grekko_research.compliance.ledger import LedgerEntry
from grekko_research.errors import DataError

__all__ = ["ledger_from_events"]

ZERO = Decimal(0)
ONE = Decimal(1)


def _market(venue: str, symbol: str) -> Literal["spot", "perp"]:
    from live.compliance.policy import plan_markets

    return "perp" if "perp" in plan_markets(venue, [symbol]) else "spot"


def _native(asset: str, other: str) -> bool:
    return asset == other or f"W{asset}" == other


def ledger_from_events(events: Iterable[Any]) -> list[LedgerEntry]:
    """The ledger of a run's events (store ``Event`` objects, in log order)."""
    from live.orders import OrderManager

    events = list(events)
    venue = "live"
    for e in events:
        if e.kind == "run_started":
            venue = str(e.payload.get("venue") or venue)
            break
    out: list[LedgerEntry] = []
    om = OrderManager.replay(events)
    for f in om.fills():
        order = om.order(f.client_id)
        symbol = order.symbol
        if "/" not in symbol:
            raise DataError(f"order {f.client_id}: symbol {symbol!r} is not BASE/QUOTE")
        base, quote = symbol.split("/")[0], symbol.split("/")[1].split(":")[0]
        market = _market(venue, symbol)
        fee, asset = f.fee or ZERO, f.fee_asset or quote
        ref = f"{f.client_id}:{f.trade_id}"
        gas = None
        if _native(asset, quote):
            fee_quote = fee
        elif _native(asset, base):
            fee_quote = fee * f.price
        else:
            fee_quote = ZERO
        if asset not in (base, quote) and fee:  # a DEX fill's gas, in the native token
            gas, fee, fee_quote, asset = (fee_quote, fee, asset), ZERO, ZERO, quote
        out.append(LedgerEntry(f.ts_ms, "fill", venue, market, symbol, order.side, f.qty,
                               f.price, fee, asset, fee_quote, ZERO, ONE, ref))  # fmt: skip
        if gas is not None:
            valued, native_fee, native = gas
            tag = "" if valued or not native_fee else ":unvalued"
            out.append(LedgerEntry(f.ts_ms, "gas", venue, market, symbol, "", ZERO, ZERO,
                                   native_fee, native, valued, -valued, ONE, f"{ref}:gas{tag}"))  # fmt: skip
    for e in events:
        if e.kind != "sniper_fill":
            continue
        p = e.payload
        tokens = Decimal(int(p["tokens"])).scaleb(-6)
        if tokens <= 0:
            continue
        sol = Decimal(int(p["lamports"])).scaleb(-9)
        symbol = f"{p['mint']}/SOL"
        where = "solana-dry-run" if p.get("dry_run") else "solana"
        out.append(LedgerEntry(e.ts_ms, "fill", where, "spot", symbol, p["side"], tokens,
                               sol / tokens, ZERO, "SOL", ZERO, ZERO, ONE,
                               f"{p.get('signature')}"))  # fmt: skip
    out += _funding(events, venue)
    out.sort(key=lambda x: x.ts_ms)
    return out


def _funding(events: Iterable[Any], venue: str) -> list[LedgerEntry]:
    """The run's ``funding`` events (a perpetual's settlements the runner logged, ``amount``
    in the quote asset: + received, − paid), one ``funding`` entry each."""
    out: list[LedgerEntry] = []
    for e in events:
        if e.kind != "funding":
            continue
        p = e.payload
        symbol = str(p["symbol"])
        if "/" not in symbol:
            raise DataError(f"funding {p.get('id')}: symbol {symbol!r} is not BASE/QUOTE")
        quote = symbol.split("/")[1].split(":")[0]
        out.append(LedgerEntry(int(p["ts_ms"]), "funding", venue, "perp", symbol, "", ZERO, ZERO,
                               ZERO, quote, ZERO, Decimal(str(p["amount"])), ONE,
                               f"funding:{symbol}:{p['id']}"))  # fmt: skip
    return out
