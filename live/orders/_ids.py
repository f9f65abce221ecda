"""Deterministic client order ids, valid on Binance and Coinbase alike."""

from __future__ import annotations

import json
import re
import uuid

from live.orders._errors import InvalidIntentError

__all__ = ["BINANCE_CLIENT_ID_RE", "COINBASE_CLIENT_ID_RE", "client_order_id"]

BINANCE_CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
"""Binance's rule for ``newClientOrderId``."""

COINBASE_CLIENT_ID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
"""A lowercase UUID: what Coinbase Exchange requires for ``client_oid`` (Advanced Trade takes any
string up to 36 characters, so a UUID suits both)."""

# Fixed namespace of Grekko's client ids; changing it changes every id (and breaks idempotency
# of orders created before the change), so never do.
_NAMESPACE = uuid.UUID("aa4896e4-b294-4f63-9ad3-3a1795a73e46")


def client_order_id(run_id: str, symbol: str, decision_ts_ms: int, seq: int) -> str:
    """Return the client order id of one intent: a lowercase UUID (36 characters).

    The id is a UUID version 5 of the JSON list ``[run_id, symbol, decision_ts_ms, seq]``
    (JSON, so no separator can make two different tuples collide), hence the same intent always
    gets the same id and resubmitting it cannot create a second order: the venue refuses a
    duplicate client id. The alphabet (``0-9 a-f -``) and length fit Binance
    (:data:`BINANCE_CLIENT_ID_RE`) and Coinbase (:data:`COINBASE_CLIENT_ID_RE`).

    Parameters
    ----------
    run_id
        Strategy / live-run id; non-empty.
    symbol
        Market symbol, e.g. ``"BTC/USDT"``; non-empty.
    decision_ts_ms
        Open time (ms since the epoch) of the bar the decision was taken on; ``>= 0``.
    seq
        Position of the intent among those taken on that bar, from 0.

    Raises
    ------
    InvalidIntentError
        If a part is empty, negative or of the wrong type.
    """
    for name, text in (("run_id", run_id), ("symbol", symbol)):
        if not isinstance(text, str) or not text:
            raise InvalidIntentError(
                f"client id part {name} must be a non-empty string, got {text!r}"
            )
    for name, number in (("decision_ts_ms", decision_ts_ms), ("seq", seq)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise InvalidIntentError(f"client id part {name} must be an int >= 0, got {number!r}")
    key = json.dumps(
        [run_id, symbol, decision_ts_ms, seq], ensure_ascii=False, separators=(",", ":")
    )
    return str(uuid.uuid5(_NAMESPACE, key))
