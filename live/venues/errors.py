"""Venue errors: ccxt's exceptions translated at the adapter boundary, grouped by next action.

Every venue adapter wraps its ccxt calls in :func:`translating` (or calls
:func:`raise_translated` in an ``except`` block), so nothing above the adapter sees a ccxt
class. The original exception stays reachable as ``__cause__``.

==================  ===========================================  ==============================
class               meaning                                      caller's next step
==================  ===========================================  ==============================
``RetryLater``      the request was refused or lost, no effect   resend after ``retry_after`` s
``GiveUp``          the venue refused it for good                fix the request / halt
``OutcomeUnknown``  a create/cancel may or may not have landed   reconcile by client order id;
                                                                 never blindly resend
``OrderMissing``    the venue does not know the order            apply the order manager's
                                                                 not-found grace rule
==================  ===========================================  ==============================

How ccxt's tree maps (the first matching row wins; "read" = ``state_changing=False``):

- ``OrderNotFound`` (an ``InvalidOrder`` subclass) → ``OrderMissing``.
- ``RateLimitExceeded``, ``DDoSProtection`` (429/418 ban), ``InvalidNonce`` (timestamp or
  recvWindow rejected) → ``RetryLater`` even when state-changing: the venue refused the request
  before acting on it.
- any other ``ExchangeError`` (authentication, permission, insufficient funds, invalid order,
  duplicate client id, bad symbol, not supported ...) → ``GiveUp``.
- ``OperationFailed`` — ``RequestTimeout``, ``ExchangeNotAvailable`` (5xx, maintenance), other
  ``NetworkError``, ``BadResponse``, ``CancelPending``, Binance's "execution status unknown"
  codes — and built-in ``OSError``/``TimeoutError`` → ``OutcomeUnknown`` when state-changing,
  else ``RetryLater``.
- anything else → ``OutcomeUnknown`` when state-changing (fail closed), else ``GiveUp``.

Messages are one line, name venue, operation, client id and the ccxt class, and are scrubbed
of anything that looks like a credential (``signature=``, ``apiKey``, ``secret`` ... values,
plus the exact key and secret of the client given to :func:`translating`, plus every secret
registered with the process-wide :func:`live.secrets.default_redactor`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import ccxt

from grekko_research.errors import ExchangeError, GrekkoError, RetryableError
from live.secrets import default_redactor

__all__ = [
    "GiveUp",
    "OrderMissing",
    "OutcomeUnknown",
    "RetryLater",
    "VenueError",
    "parse_retry_after",
    "raise_translated",
    "refusal_kind",
    "scrub",
    "translate",
    "translating",
]

_DETAIL_MAX = 300
_REDACTED = "***"
# name, separator (=, :, "": "" ...), value up to the next delimiter
_SECRET_FIELD = re.compile(
    r"(?i)\b(signature|api[-_]?key|x-mbx-apikey|secret(?:[-_]?key)?|password|passphrase"
    r"|private[-_]?key|token)(\"?'?\s*[:=]\s*\"?'?)([^\s&\"',;}\]]+)"
)
_RETRY_AFTER_TEXT = re.compile(r"(?i)retry[-_ ]?after[\"']?\s*[:=]?\s*[\"']?(\d+(?:\.\d+)?)")
_CLIENT_SECRET_ATTRS = ("apiKey", "secret", "password", "privateKey", "token")


class VenueError(GrekkoError, RuntimeError):
    """A venue request failed; the subclass says what the caller must do next.

    Attributes
    ----------
    venue, operation
        Venue id (``"binance"``) and adapter operation (``"create_order"``).
    client_id
        Client order id the request concerned, if any.
    state_changing
        Whether the request could change venue state (create, cancel).
    source
        Name of the translated exception's class (``"RequestTimeout"``).
    retry_after
        Seconds to wait before retrying, when the venue said (``RetryLater`` only).
    """

    action = "failed"

    def __init__(
        self,
        detail: str,
        *,
        venue: str,
        operation: str,
        state_changing: bool,
        source: str,
        client_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.venue = venue
        self.operation = operation
        self.state_changing = state_changing
        self.source = source
        self.client_id = client_id
        self.retry_after = retry_after
        self.detail = detail
        who = f"{venue} {operation}" + (f" (client id {client_id})" if client_id else "")
        super().__init__(f"{who}: {self._what()} [{source}: {detail}]")

    def _what(self) -> str:
        return self.action

    def __str__(self) -> str:  # OSError-derived subclasses would otherwise format args
        return str(self.args[0])


class RetryLater(VenueError, RetryableError):
    """Transient: the venue did not act on the request; resend it after ``retry_after`` s."""

    def _what(self) -> str:
        wait = f" after {self.retry_after:g} s" if self.retry_after is not None else ""
        return f"retry later{wait}"


class GiveUp(VenueError, ExchangeError):
    """Permanent: the venue refused the request; resending it unchanged will not help."""

    action = "refused, give up"


class OutcomeUnknown(VenueError):
    """A state-changing request may or may not have taken effect.

    Query the order by its client id (and apply the not-found grace rule) before doing
    anything else; never resend the request blindly.
    """

    def _what(self) -> str:
        how = "query the client order id" if self.client_id else "query open orders"
        return f"outcome unknown, reconcile ({how}); do not resend"


class OrderMissing(VenueError, LookupError):
    """The venue does not know the order; apply the order manager's not-found grace rule."""

    action = "order not found"


REFUSAL_KINDS = (
    "would_trigger",
    "would_take",
    "insufficient_funds",
    "invalid_order",
    "refused",
)
"""Why a venue refused an order for good, as :func:`refusal_kind` names it."""


def refusal_kind(exc: BaseException | None) -> str:
    """The kind of an order refusal (the first word of a ``Rejected`` reason):

    - ``would_trigger``: a stop the market has already reached (Binance spot ``-2010 "Stop
      price would trigger immediately."``, USD-M ``-2021 "Order would immediately trigger."``);
    - ``would_take``: a post-only order that would take (spot ``-2010 "Order would immediately
      match and take."``, USD-M GTX ``-5022``, Coinbase ``INVALID_LIMIT_PRICE_POST_ONLY``);
    - ``insufficient_funds``; ``invalid_order`` (filters, precision, parameters); ``refused``.
    """
    text = str(exc) if exc is not None else ""
    # Matched on the text too: ccxt picks Binance's futures error table by host, so against
    # another host (a simulator, a proxy) these codes come as a plain ExchangeError.
    takes = ("match and take", '"code":-5022,', "Post Only order will be rejected")
    if any(t in text for t in takes) or "POST_ONLY" in text.upper():
        return "would_take"
    triggers = (
        '"code":-2021,',
        "immediately trigger",
        "trigger immediately",
        "INVALID_STOP_PRICE",
        "_LAST_TRADE_PRICE",
    )
    if isinstance(exc, ccxt.OrderImmediatelyFillable) or any(t in text for t in triggers):
        return "would_trigger"
    if isinstance(exc, ccxt.OrderNotFillable):
        return "would_take"
    if isinstance(exc, ccxt.InsufficientFunds):
        return "insufficient_funds"
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest):
        return "invalid_order"
    return "refused"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` on one line with credential-looking values and ``secrets`` masked.

    The secrets registered with :func:`live.secrets.default_redactor` (every loaded
    credential, the API and alert tokens) are masked too.
    """
    text = default_redactor().redact(text)
    for secret in secrets:
        if secret and len(secret) >= 4:  # masking 1-3 characters would garble the text
            text = text.replace(secret, _REDACTED)
    text = _SECRET_FIELD.sub(lambda m: m.group(1) + m.group(2) + _REDACTED, text)
    return " ".join(text.split())


def parse_retry_after(
    headers: Mapping[str, Any] | None = None, message: str | None = None
) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form) or a hint in ``message``."""
    if headers:
        for name, value in headers.items():
            if str(name).lower() == "retry-after":
                try:
                    seconds = float(str(value).strip())
                except ValueError:  # the HTTP-date form: no clock here to subtract from
                    return None
                return seconds if seconds >= 0 else None
    if message and (found := _RETRY_AFTER_TEXT.search(message)):
        return float(found.group(1))
    return None


def _group(exc: Exception, state_changing: bool) -> type[VenueError]:
    if isinstance(exc, ccxt.OrderNotFound):  # before InvalidOrder, its base class
        return OrderMissing
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection | ccxt.InvalidNonce):
        return RetryLater  # refused before execution: safe to resend even a create
    if isinstance(exc, ccxt.ExchangeError):
        return GiveUp
    if isinstance(exc, ccxt.OperationFailed | OSError):  # TimeoutError is an OSError
        return OutcomeUnknown if state_changing else RetryLater
    return OutcomeUnknown if state_changing else GiveUp


def translate(
    exc: Exception,
    *,
    operation: str,
    state_changing: bool,
    venue: str,
    client_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
    secrets: Iterable[str] = (),
) -> VenueError:
    """Return the :class:`VenueError` for ``exc`` (not raised; see :func:`raise_translated`).

    Parameters
    ----------
    exc
        The exception the client raised (ccxt or built-in).
    operation
        Adapter operation, e.g. ``"create_order"``; it appears in the message.
    state_changing
        ``True`` for requests that may change venue state (create, cancel): a lost answer
        then means :class:`OutcomeUnknown` instead of :class:`RetryLater`.
    venue, client_id
        Venue id and the client order id concerned, for the message and attributes.
    headers
        Response headers of the failed request (ccxt's ``last_response_headers``), for
        ``Retry-After``.
    secrets
        Exact strings (API key, secret) to mask in the message, besides the field patterns.
    """
    group = _group(exc, state_changing)
    secrets = list(secrets)
    raw = scrub(str(exc), secrets)
    detail = raw if len(raw) <= _DETAIL_MAX else raw[: _DETAIL_MAX - 3] + "..."
    retry_after = parse_retry_after(headers, raw) if group is RetryLater else None
    return group(
        detail,
        venue=venue,
        operation=operation,
        state_changing=state_changing,
        source=type(exc).__name__,
        client_id=client_id,
        retry_after=retry_after,
    )


def raise_translated(
    exc: Exception,
    *,
    operation: str,
    state_changing: bool,
    venue: str,
    client_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
    secrets: Iterable[str] = (),
) -> NoReturn:
    """Raise :func:`translate`'s result from ``exc`` (call it inside ``except``)."""
    raise translate(
        exc,
        operation=operation,
        state_changing=state_changing,
        venue=venue,
        client_id=client_id,
        headers=headers,
        secrets=secrets,
    ) from exc


@contextmanager
def translating(
    *,
    operation: str,
    state_changing: bool,
    venue: str,
    client_id: str | None = None,
    client: Any = None,
) -> Iterator[None]:
    """Translate any exception raised in the block; a :class:`VenueError` passes unchanged.

    ``client`` (the ccxt exchange) supplies ``last_response_headers`` for ``Retry-After``
    and its credentials for scrubbing. Works around ``await`` inside ``async`` code::

        with translating(operation="create_order", state_changing=True, venue="binance",
                         client_id=cid, client=ex):
            await ex.create_order(...)
    """
    try:
        yield
    except VenueError:
        raise
    except Exception as exc:
        headers = getattr(client, "last_response_headers", None) if client is not None else None
        secrets = [
            value
            for attr in _CLIENT_SECRET_ATTRS
            if isinstance(value := getattr(client, attr, None), str)
        ]
        raise_translated(
            exc,
            operation=operation,
            state_changing=state_changing,
            venue=venue,
            client_id=client_id,
            headers=headers if isinstance(headers, Mapping) else None,
            secrets=secrets,
        )
