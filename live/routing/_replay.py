"""Routing decisions replayed from the log: every input of :func:`~live.routing.decide` is in
the ``route_decision`` event, so a route can be decided again from the log alone and must come
out the same (``grekko-live routes``).

The event records, besides the decision itself:

- ``inputs``: each venue as it was read (book levels, fee, balances, market rules, the health
  verdict; a reference-price quote's unknown size is ``null``);
- ``routing_spec``: the ``live.routing`` section in force;
- ``slippage``: the expected-slippage model — ``book_walk`` (its fixed bps, books and the price
  beyond them) or ``calibrated`` (each pair's fitted cost model and the bar volume and
  volatility it was given, and its fallback). Another model is named only (``other``): its
  routes are reported as not replayable.

:func:`replay_route` decides again; :func:`route_differences` lists what differs from the log
(an empty list: parity).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any, cast

from grekko_research.engine.costs import CostModel
from live.routing._calibrated import CalibratedSlippage
from live.routing._decide import (
    BookWalkSlippage,
    Health,
    Levels,
    RouteDecision,
    SlippageEstimate,
    VenueInput,
    _finite,
    decide,
)
from live.routing._spec import RoutingSpec

__all__ = [
    "NotReplayable",
    "inputs_record",
    "replay_route",
    "route_differences",
    "slippage_record",
    "spec_record",
]

_DECISION_KEYS = tuple(f.name for f in fields(RouteDecision))


class NotReplayable(ValueError):
    """A ``route_decision`` that lacks what deciding it again needs (and says what)."""


def _levels(levels: Levels) -> list[list[float | None]]:
    return [[p, q if math.isfinite(q) else None] for p, q in levels]


def _levels_back(raw: Sequence[Sequence[Any]]) -> Levels:
    return tuple((float(p), math.inf if q is None else float(q)) for p, q in raw)


def inputs_record(inputs: Sequence[VenueInput]) -> list[dict[str, Any]]:
    """The venues as read, for the log."""
    out = []
    for v in inputs:
        doc = asdict(v)
        doc["bids"], doc["asks"] = _levels(v.bids), _levels(v.asks)
        doc["health"] = {**asdict(v.health), "reasons": list(v.health.reasons)}
        out.append(_finite(doc))  # a fee not read (the venue failed) is null
    return out


def _inputs_back(raw: Sequence[Mapping[str, Any]]) -> list[VenueInput]:
    out = []
    for doc in raw:
        h = doc["health"]
        health = Health(bool(h["ok"]), tuple(h["reasons"]), int(h["errors"]),
                        h.get("quote_latency_ms"))  # fmt: skip
        values = {k: v for k, v in doc.items() if k not in ("bids", "asks", "health")}
        values["fee_bps"] = math.nan if values["fee_bps"] is None else values["fee_bps"]
        out.append(VenueInput(**values, bids=_levels_back(doc["bids"]),
                              asks=_levels_back(doc["asks"]), health=health))  # fmt: skip
    return out


def spec_record(spec: RoutingSpec) -> dict[str, Any]:
    """The ``live.routing`` section in force, for the log."""
    doc = asdict(spec)
    doc["venues"] = list(spec.venues)
    return doc


def slippage_record(model: SlippageEstimate) -> dict[str, Any]:
    """The expected-slippage model, for the log (see the module doc)."""
    if isinstance(model, BookWalkSlippage):
        books = [{"venue": v, "symbol": s, "bids": _levels(b), "asks": _levels(a)}
                 for (v, s), (b, a) in model.books.items()]  # fmt: skip
        return {"kind": "book_walk", "fixed_bps": dict(model.fixed_bps), "books": books,
                "beyond_book_bps": model.beyond_book_bps}  # fmt: skip
    if isinstance(model, CalibratedSlippage):
        return {
            "kind": "calibrated",
            "models": [
                {"venue": v, "symbol": s, "model": m.to_dict()}
                for (v, s), m in model.models.items()
            ],
            "features": [
                {"venue": v, "symbol": s, "volume": vol, "sigma_bps": sig}
                for (v, s), (vol, sig) in model.features.items()
            ],
            "fallback": slippage_record(model.fallback),
        }
    return {"kind": "other", "name": type(model).__name__}


def _slippage_back(doc: Mapping[str, Any]) -> SlippageEstimate:
    kind = doc.get("kind")
    if kind == "book_walk":
        books = {(b["venue"], b["symbol"]): (_levels_back(b["bids"]), _levels_back(b["asks"]))
                 for b in doc["books"]}  # fmt: skip
        return BookWalkSlippage(dict(doc["fixed_bps"]), books, float(doc["beyond_book_bps"]))
    if kind == "calibrated":
        models = {(m["venue"], m["symbol"]): CostModel.from_dict(m["model"], where="route log")
                  for m in doc["models"]}  # fmt: skip
        feats = {(f["venue"], f["symbol"]): (float(f["volume"]), float(f["sigma_bps"]))
                 for f in doc["features"]}  # fmt: skip
        return CalibratedSlippage(models, feats, _slippage_back(doc["fallback"]))
    raise NotReplayable(f"its slippage model {doc.get('name', kind)!r} is not recorded")


def replay_route(payload: Mapping[str, Any]) -> RouteDecision:
    """Decide a logged route again from its recorded inputs.

    Raises
    ------
    NotReplayable
        The event lacks the inputs, the spec or a recorded slippage model (a route logged
        before they were recorded, or one priced by an unrecorded model).
    """
    missing = [k for k in ("requested", "inputs", "routing_spec", "slippage") if k not in payload]
    if missing:
        raise NotReplayable(f"the route_decision does not record {missing}")
    req = payload["requested"]
    raw_spec = dict(payload["routing_spec"])
    spec = RoutingSpec(**raw_spec)
    slippage = _slippage_back(payload["slippage"])
    return decide(str(req["symbol"]), cast(Any, req["side"]), float(req["qty"]),
                  _inputs_back(payload["inputs"]), spec, slippage)  # fmt: skip


def _json(x: Any) -> Any:
    return json.loads(json.dumps(x, allow_nan=True))


def route_differences(payload: Mapping[str, Any]) -> list[str]:
    """What the logged decision and its replay disagree on, one line per field (``[]``: the
    same); raises :class:`NotReplayable` as :func:`replay_route`."""
    again = _json(replay_route(payload).to_json())
    logged = _json({k: payload.get(k) for k in _DECISION_KEYS})
    return [f"{k}: logged {logged[k]!r}, replayed {again[k]!r}"
            for k in _DECISION_KEYS if logged[k] != again[k]]  # fmt: skip
