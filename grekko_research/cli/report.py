"""``grekko report trades|pnl|tax``: the trade ledger, realised P&L (FIFO/LIFO/HIFO) and tax
exports (Koinly, CoinTracking) of a backtest run folder or a ledger CSV (a live run's, written
by ``grekko-live report``). docs/compliance.md."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from grekko_research.cli.render import console, new_table
from grekko_research.errors import ConfigError, DataError

__all__ = ["app", "ledger_of", "render"]

app = typer.Typer(
    help="Trade ledger, realised P&L (FIFO/LIFO/HIFO) and tax exports of a run.",
    no_args_is_help=True,
)

SourceArg = Annotated[Path, typer.Argument(help="A backtest run folder, or a ledger CSV.")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Output folder [<source>/report or beside the CSV].")
]
CurrencyOpt = Annotated[
    str | None, typer.Option("--currency", help="Reporting currency [the quote currency].")
]
RateOpt = Annotated[
    str | None, typer.Option("--rate", help="Constant quote->reporting rate (e.g. 0.92).")
]
RatesOpt = Annotated[
    Path | None, typer.Option("--rates", help="CSV timestamp,rate of quote->reporting rates.")
]
MethodOpt = Annotated[str, typer.Option("--method", help="Cost basis: fifo | lifo | hifo.")]


def _rates(currency: str | None, rate: str | None, rates: Path | None, quote: str) -> Any:
    from grekko_research.compliance.ledger import Rates

    if rate is not None and rates is not None:
        raise ConfigError("give --rate or --rates, not both")
    if (rate is not None or rates is not None) and not currency:
        raise ConfigError("--rate/--rates need --currency (the reporting currency)")
    if rates is not None:
        if not rates.is_file():
            raise DataError(f"--rates {rates}: no such file")
        return Rates.from_csv(rates, str(currency))
    if rate is not None:
        try:
            value = Decimal(rate)
        except ArithmeticError:
            raise ConfigError(f"--rate {rate!r}: not a number") from None
        if not value > 0:
            raise ConfigError(f"--rate {rate}: must be positive")
        return Rates(str(currency), constant=value)
    if currency and currency != quote:
        raise ConfigError(
            f"--currency {currency} differs from the quote currency {quote}: give --rate or --rates"
        )
    return Rates(quote)


def ledger_of(source: Path) -> tuple[list[Any], dict[str, Any]]:
    """The ledger of a backtest run folder or a ledger CSV, and where it came from."""
    from grekko_research.compliance.ledger import (
        ledger_from_backtest_run,
        provenance,
        read_ledger_csv,
    )

    if source.is_dir():
        return ledger_from_backtest_run(source), {"run": str(source), **provenance(source)}
    if source.is_file() and source.suffix == ".csv":
        return read_ledger_csv(source), {"ledger": str(source)}
    raise DataError(
        f"{source}: not a backtest run folder or a ledger CSV (a live run: `grekko-live report`)"
    )


def render(
    kind: str,
    entries: list[Any],
    origin: dict[str, Any],
    out: Path,
    *,
    currency: str | None,
    rate: str | None,
    rates: Path | None,
    method: str,
) -> None:
    """Value ``entries``, write the ``kind`` report into ``out``, print its summary."""
    from grekko_research.compliance.ledger import with_rates
    from grekko_research.compliance.report import cents, write_report

    quotes = sorted({e.quote for e in entries})
    if len(quotes) > 1 and not (rate or rates):
        raise ConfigError(f"quote currencies {quotes}: give --currency and --rates")
    # a run without fills reports nothing, in the currency asked for
    table = _rates(currency, rate, rates, quotes[0] if quotes else (currency or "n/a"))
    entries = with_rates(entries, table)
    files, summaries = write_report(entries, kind, out, currency=table.currency,  # type: ignore[arg-type]
                                    method=method, source=origin)  # type: ignore[arg-type]  # fmt: skip
    fills = sum(e.kind == "fill" for e in entries)
    console.print(f"{len(entries)} ledger entries ({fills} fills) in {table.currency}")
    if summaries:
        t = new_table(title=f"Realised P&L ({table.currency})")
        for col in ("method", "disposals", "gains", "funding", "gas", "net"):
            t.add_column(col, justify="right" if col != "method" else "left")
        for s in summaries:
            t.add_row(s.method, str(len(s.disposals)), str(cents(s.gains)), str(cents(s.funding)),
                      str(cents(s.gas)), str(cents(s.net)))  # fmt: skip
        console.print(t)
    for f in files:
        console.print(f"Wrote {f}")


def _command(kind: str) -> Callable[..., None]:
    def command(
        source: SourceArg,
        out: OutOpt = None,
        currency: CurrencyOpt = None,
        rate: RateOpt = None,
        rates: RatesOpt = None,
        method: MethodOpt = "fifo",
    ) -> None:
        entries, origin = ledger_of(source)
        folder = out or (source / "report" if source.is_dir() else source.parent / "report")
        render(kind, entries, origin, folder, currency=currency, rate=rate, rates=rates,
               method=method)  # fmt: skip

    return command


_HELP = {
    "trades": "Write the normalised trade ledger (fills, fees in quote and reporting currency, "
    "funding, gas): ledger.csv.",
    "pnl": "Realised P&L under FIFO, LIFO and HIFO: pnl.json and the disposals of each method.",
    "tax": "Tax report under --method: disposals, Koinly and CoinTracking CSV exports.",
}
for _kind, _help in _HELP.items():
    app.command(_kind, help=_help)(_command(_kind))
