"""Realised P&L by lot matching: FIFO, LIFO and HIFO, in the reporting currency.

Lots are kept per (market, asset): spot lots per base asset (BTC bought on two pairs is one
pool of BTC), perp lots per contract symbol. A buy first covers open short lots, then opens a
long lot; a sell first disposes of long lots, then opens a short lot (perps; a spot ledger that
sells more than it holds is an error, naming the entry). Fees: a buy's fee is part of the lot's
cost, a sell's fee reduces the proceeds; a fee paid in the base asset reduces the quantity
acquired instead. Which open lot a disposal takes:

* ``fifo`` — the oldest; ``lifo`` — the newest;
* ``hifo`` — for long lots the highest unit cost (the smallest gain); for short lots the lowest
  unit proceeds (likewise the smallest gain); ties by age.

Funding and gas are not disposals: they are income or cost entries, summed beside the gains.

Arithmetic runs in a context of its own (60 significant digits), never the caller's, and every
total is snapped to 1e-30: a unit cost such as 100/3 re-multiplied leaves an error far below
that, so a total that is exactly on a half cent stays there and rounds the same on every
machine and in every program (the caller's decimal precision used to decide that cent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Literal

from grekko_research.calendar import YEAR_MS
from grekko_research.compliance.ledger import LedgerEntry
from grekko_research.errors import DataError

__all__ = ["METHODS", "Disposal", "Method", "PnlSummary", "realise"]

Method = Literal["fifo", "lifo", "hifo"]
METHODS: tuple[Method, ...] = ("fifo", "lifo", "hifo")
ZERO = Decimal(0)
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN)
_SNAP = Decimal("1e-30")


def _total(values: Iterable[Decimal]) -> Decimal:
    """An exact-enough sum, snapped to 1e-30 (see the module doc)."""
    with localcontext(_CONTEXT):
        return sum(values, ZERO).quantize(_SNAP)


@dataclass
class _Lot:
    ts_ms: int
    qty: Decimal  # remaining, > 0
    unit: Decimal  # long: cost per unit; short: proceeds per unit (reporting currency)
    ref: str


@dataclass(frozen=True)
class Disposal:
    """One matched (part of a) lot: what it cost, what it fetched, the gain."""

    opened_ms: int
    closed_ms: int
    market: str
    asset: str
    direction: Literal["long", "short"]
    qty: Decimal
    cost: Decimal  # reporting currency
    proceeds: Decimal
    open_ref: str
    close_ref: str

    @property
    def gain(self) -> Decimal:
        with localcontext(_CONTEXT):
            return self.proceeds - self.cost

    @property
    def long_term(self) -> bool:
        return self.closed_ms - self.opened_ms > YEAR_MS


@dataclass
class PnlSummary:
    """Realised gains, funding and gas of a ledger under one method."""

    method: Method
    currency: str
    disposals: list[Disposal] = field(default_factory=list)
    funding: Decimal = ZERO  # + received
    gas: Decimal = ZERO  # + received (always <= 0)
    open_lots: dict[tuple[str, str], list[tuple[int, Decimal, Decimal]]] = field(
        default_factory=dict
    )

    @property
    def gains(self) -> Decimal:
        return _total(d.proceeds - d.cost for d in self.disposals)

    @property
    def net(self) -> Decimal:
        return _total((self.gains, self.funding, self.gas))

    def by_asset(self) -> dict[str, Decimal]:
        out: dict[str, list[Decimal]] = defaultdict(list)
        with localcontext(_CONTEXT):
            for d in self.disposals:
                out[d.asset].append(d.proceeds - d.cost)
        return {asset: _total(gains) for asset, gains in sorted(out.items())}


def _pick(lots: list[_Lot], method: Method, long: bool) -> int:
    if method == "fifo":
        return 0
    if method == "lifo":
        return len(lots) - 1
    # hifo: the smallest gain; ties: the oldest
    if long:
        return max(range(len(lots)), key=lambda i: (lots[i].unit, -i))
    return min(range(len(lots)), key=lambda i: (lots[i].unit, i))


def realise(entries: Iterable[LedgerEntry], method: Method, *, currency: str) -> PnlSummary:
    """Match the ledger's fills into disposals under ``method`` (see the module doc)."""
    if method not in METHODS:
        raise DataError(f"cost-basis method {method!r}: one of {', '.join(METHODS)}")
    with localcontext(_CONTEXT):
        return _realise(entries, method, currency)


def _realise(entries: Iterable[LedgerEntry], method: Method, currency: str) -> PnlSummary:
    out = PnlSummary(method, currency)
    longs: dict[tuple[str, str], list[_Lot]] = defaultdict(list)
    shorts: dict[tuple[str, str], list[_Lot]] = defaultdict(list)
    for e in sorted(entries, key=lambda e: e.ts_ms):  # stable: the ledger's order within a ms
        if e.kind == "funding":
            out.funding += e.amount_quote * e.rate
            continue
        if e.kind == "gas":
            out.gas += e.amount_quote * e.rate
            continue
        key: tuple[str, str] = (e.market, e.base if e.market == "spot" else e.symbol)
        _fill(out, e, key, longs[key], shorts[key], method)
    for book in (longs, shorts):
        for key, lots in book.items():
            if lots:
                out.open_lots.setdefault(key, []).extend(
                    (lot.ts_ms, lot.qty, lot.unit) for lot in lots
                )
    return out


def _fill(
    out: PnlSummary,
    e: LedgerEntry,
    key: tuple[str, str],
    longs: list[_Lot],
    shorts: list[_Lot],
    method: Method,
) -> None:
    """One fill: cover the opposite lots, open a lot with the rest."""
    qty = e.qty
    fee = e.fee_reporting
    if e.fee_asset == e.base and e.base != e.quote:
        qty, fee = (qty - e.fee, ZERO) if e.side == "buy" else (qty, e.fee * e.price * e.rate)
    if qty <= 0:
        raise DataError(f"ledger entry {e.ref}: quantity {qty} after fees is not positive")
    value = e.qty * e.price * e.rate
    if e.side == "buy":
        unit = (value + fee) / qty
        remaining = _match(out, shorts, e, key, qty, unit, long=False, method=method)
        if remaining > 0:
            longs.append(_Lot(e.ts_ms, remaining, unit, e.ref))
        return
    unit = (value - fee) / qty
    remaining = _match(out, longs, e, key, qty, unit, long=True, method=method)
    if remaining > 0:
        if e.market == "spot":
            raise DataError(
                f"ledger entry {e.ref}: sells {remaining} {e.base} more than the ledger "
                "holds (spot cannot go short: an incomplete ledger?)"
            )
        shorts.append(_Lot(e.ts_ms, remaining, unit, e.ref))


def _match(
    out: PnlSummary,
    lots: list[_Lot],
    e: LedgerEntry,
    key: tuple[str, str],
    qty: Decimal,
    unit: Decimal,
    *,
    long: bool,
    method: Method,
) -> Decimal:
    """Close ``qty`` of ``lots`` at ``unit`` (a sell's proceeds per unit closing longs, a buy's
    cost per unit covering shorts); return the quantity no lot covered."""
    while qty > 0 and lots:
        i = _pick(lots, method, long)
        lot = lots[i]
        take = min(qty, lot.qty)
        if long:
            cost, proceeds = lot.unit * take, unit * take
        else:
            cost, proceeds = unit * take, lot.unit * take
        out.disposals.append(Disposal(lot.ts_ms, e.ts_ms, key[0], key[1],
                                      "long" if long else "short", take, cost, proceeds,
                                      lot.ref, e.ref))  # fmt: skip
        lot.qty -= take
        qty -= take
        if lot.qty == 0:
            del lots[i]
    return qty


def summaries(
    entries: Sequence[LedgerEntry], currency: str, methods: Sequence[Method] = METHODS
) -> list[PnlSummary]:
    return [realise(entries, m, currency=currency) for m in methods]
