"""Trade, P&L and tax reports of a ledger: what ``grekko report`` and ``grekko-live report`` write.

* ``trades`` — the normalised ledger (``ledger.csv``);
* ``pnl`` — realised P&L per method (FIFO, LIFO, HIFO) and asset, funding, gas, net
  (``pnl.json``, ``disposals-<method>.csv``);
* ``tax`` — the chosen method's disposals plus the Koinly and CoinTracking exports
  (``koinly.csv``, ``cointracking.csv``).

Amounts in the summary are rounded to the cent (half up) only when shown; files keep exact
decimals.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

from grekko_research.compliance.costbasis import METHODS, Method, PnlSummary, realise
from grekko_research.compliance.exports import write_export
from grekko_research.compliance.ledger import LedgerEntry, write_ledger_csv
from grekko_research.errors import ConfigError

__all__ = ["CENT", "ReportKind", "cents", "pnl_document", "write_report"]

ReportKind = Literal["trades", "pnl", "tax"]
CENT = Decimal("0.01")
DISPOSAL_COLUMNS = ("opened_utc", "closed_utc", "market", "asset", "direction", "qty", "cost",
                    "proceeds", "gain", "term", "open_ref", "close_ref")  # fmt: skip


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def pnl_document(summary: PnlSummary) -> dict[str, Any]:
    """A P&L summary as JSON (amounts as strings, to the cent)."""
    return {
        "method": summary.method,
        "currency": summary.currency,
        "disposals": len(summary.disposals),
        "realised_gains": str(cents(summary.gains)),
        "short_term_gains": str(cents(sum((d.gain for d in summary.disposals
                                           if not d.long_term), Decimal(0)))),
        "long_term_gains": str(cents(sum((d.gain for d in summary.disposals if d.long_term),
                                         Decimal(0)))),
        "by_asset": {k: str(cents(v)) for k, v in summary.by_asset().items()},
        "funding": str(cents(summary.funding)),
        "gas": str(cents(summary.gas)),
        "net": str(cents(summary.net)),
        "open_lots": {f"{m}:{a}": [str(q) for _, q, _ in lots]
                      for (m, a), lots in summary.open_lots.items()},
    }  # fmt: skip


def _write_disposals(summary: PnlSummary, path: Path) -> Path:
    from grekko_research._atomic import atomic_path

    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(DISPOSAL_COLUMNS)
        for d in summary.disposals:
            w.writerow([_iso(d.opened_ms), _iso(d.closed_ms), d.market, d.asset, d.direction,
                        d.qty, d.cost, d.proceeds, d.gain, "long" if d.long_term else "short",
                        d.open_ref, d.close_ref])  # fmt: skip
    return path


def write_report(
    entries: Sequence[LedgerEntry],
    kind: ReportKind,
    out: Path,
    *,
    currency: str,
    method: Method = "fifo",
    source: dict[str, Any] | None = None,
) -> tuple[list[Path], list[PnlSummary]]:
    """Write the ``kind`` report of ``entries`` into folder ``out``; return the files and the
    P&L summaries computed (one per method for ``pnl``, the chosen one for ``tax``)."""
    if kind not in ("trades", "pnl", "tax"):
        raise ConfigError(f"report {kind!r}: trades, pnl or tax")
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: one of {', '.join(METHODS)}")
    out.mkdir(parents=True, exist_ok=True)
    files = [write_ledger_csv(entries, out / "ledger.csv")]
    summaries: list[PnlSummary] = []
    if kind == "pnl":
        summaries = [realise(entries, m, currency=currency) for m in METHODS]
        doc = {"source": source or {}, "methods": [pnl_document(s) for s in summaries]}
        (out / "pnl.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        files.append(out / "pnl.json")
        files += [_write_disposals(s, out / f"disposals-{s.method}.csv") for s in summaries]
    elif kind == "tax":
        summary = realise(entries, method, currency=currency)
        summaries = [summary]
        files.append(_write_disposals(summary, out / f"disposals-{method}.csv"))
        files.append(write_export(entries, "koinly", out / "koinly.csv", currency))
        files.append(write_export(entries, "cointracking", out / "cointracking.csv", currency))
        doc = {"source": source or {}, **pnl_document(summary)}
        (out / "tax.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        files.append(out / "tax.json")
    return files, summaries
