"""Grekko's exception tree, grouped by what the caller must do next.

Every error raised on purpose by Grekko derives from :class:`GrekkoError` and
from the built-in exception that matches it, so ``except ValueError`` keeps
working for callers who do not know Grekko.

======================  ==========================================  ===================
class                   meaning                                     caller's next step
======================  ==========================================  ===================
``ConfigError``         a setting or argument is wrong              fix the input
``DataError``           market data is missing, corrupt or unusable fix or replace data
``DataValidationError`` a row breaks a data rule (file, row, rule)  fix the file
``DataNotFoundError``   the store has no such series                download / import
``WarmupError``         a window holds fewer bars than the warm-up  more data / less warm-up
``GapError``            a series has gaps and the policy is raise   choose a gap policy
``ExchangeError``       the exchange refused the request            give up
``UnknownSymbolError``  the exchange does not list the symbol       fix the symbol
``UnknownTimeframeError`` the exchange has no such timeframe        fix the timeframe
``RetryableError``      transient network/exchange failure          retry later
======================  ==========================================  ===================
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "DataValidationError",
    "ExchangeError",
    "GapError",
    "GrekkoError",
    "RetryableError",
    "UnknownSymbolError",
    "UnknownTimeframeError",
    "WarmupError",
]


class GrekkoError(Exception):
    """Base class of every error Grekko raises on purpose."""


class ConfigError(GrekkoError, ValueError):
    """A configuration value or argument is invalid."""


class DataError(GrekkoError, ValueError):
    """Market data is missing, corrupt or unusable."""


class DataNotFoundError(DataError, LookupError):
    """The store holds no data for the requested series."""


class WarmupError(DataError):
    """The bars up to a window's end cannot hold a strategy's warm-up and one decision (or the
    window is empty): nothing in it can be scored."""


class DataValidationError(DataError):
    """A row of a data file breaks a validation rule.

    Parameters
    ----------
    source
        File (or series) the row came from.
    row
        Data row, counted from 1 with the header not counted (so row ``n`` of
        a CSV file with a header is its line ``n + 1``); ``None`` when the rule
        concerns the whole file.
    rule
        Machine-readable name of the broken rule, e.g. ``"duplicate_timestamp"``.
    detail
        Human-readable explanation with the offending values.
    line
        Line of a text file holding the row (``row + 1`` below a one-line
        header), so an editor can jump to it; ``None`` for binary files.
    """

    def __init__(
        self, source: str, row: int | None, rule: str, detail: str, *, line: int | None = None
    ) -> None:
        self.source = source
        self.row = row
        self.rule = rule
        self.detail = detail
        self.line = line
        where = source
        if row is not None:
            where += f", row {row}" + (f" (line {line})" if line is not None else "")
        super().__init__(f"{where}: rule '{rule}' broken: {detail}")


class GapError(DataError):
    """A series has gaps and the gap policy is ``raise``."""


class ExchangeError(GrekkoError, RuntimeError):
    """The exchange refused a request in a way that retrying will not fix."""


class _UnknownNameError(ExchangeError, KeyError):
    """The exchange does not offer a name; the message lists close matches."""

    what = "name"

    def __init__(self, exchange: str, name: str, close_matches: Sequence[str]) -> None:
        self.exchange = exchange
        self.close_matches = list(close_matches)
        hint = (
            "close matches: " + ", ".join(self.close_matches)
            if self.close_matches
            else "no close match"
        )
        super().__init__(f"{exchange} has no {self.what} {name!r} ({hint})")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class UnknownSymbolError(_UnknownNameError):
    """The exchange does not list the requested symbol."""

    what = "symbol"

    def __init__(self, exchange: str, symbol: str, close_matches: Sequence[str]) -> None:
        self.symbol = symbol
        super().__init__(exchange, symbol, close_matches)


class UnknownTimeframeError(_UnknownNameError):
    """The exchange does not offer the requested timeframe."""

    what = "timeframe"

    def __init__(self, exchange: str, timeframe: str, close_matches: Sequence[str]) -> None:
        self.timeframe = timeframe
        super().__init__(exchange, timeframe, close_matches)


class RetryableError(GrekkoError, ConnectionError):
    """A transient failure (network, rate limit, 5xx) that outlasted the retries."""
