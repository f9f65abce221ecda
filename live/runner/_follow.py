"""A strategy's own orders worked by an execution algorithm (``execution.algo``): the account
follows the strategy's book through parents (:mod:`grekko_research.engine.follow`).

Such a run holds the strategy on a sleeve (its *intent* book, :mod:`live.runner.sleeves`),
which decides and books every order at once, as its backtest does. At each decision, for every
symbol the sleeve's position moved by ``d`` (to the lot), :func:`follow_qty` gives the parent
the account starts (``algo_started``, ``source: strategy``) and whether the symbol's working
strategy parent is cancelled first (``algo_cancelled``, ``by: strategy``, ``at_ts`` this
decision). Both are appended in the decision's own transaction, so a restart that lacks the
decision takes it again and starts the same parents (same ids); the parents' children are
created by :class:`~live.runner._algos.AlgoOrders` from this decision on, exactly as a manual
parent's (crash-safe client ids, each child through the risk engine).

The account's book plans no order of its own: it books the children's fills. A strategy
parent is cancelled only by its strategy (a manual cancel of one is refused).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from grekko_research.engine.follow import follow_qty, lot_delta, placed
from live.risk import EventDraft
from live.runner._algos import ActiveParent, AlgoOrders

__all__ = ["FollowOrders"]


class FollowOrders(AlgoOrders):
    """The account's parents for the moves of the strategy's book (see the module doc)."""

    def _working_strategy_parent(self, symbol: str) -> ActiveParent | None:
        """The symbol's last strategy parent unless cancelled (a finished one carries 0)."""
        mine = [
            p for p in self.parents() if p.symbol == symbol and p.raw.get("source") == "strategy"
        ]
        if not mine or mine[-1].parent_id in self.cancelled():
            return None
        return mine[-1]

    def _follow(
        self, ts: int, before: np.ndarray, after: np.ndarray
    ) -> tuple[list[EventDraft], list[dict[str, Any]]]:
        """The parents the decision on bar ``ts`` starts and cancels for the sleeve's move from
        ``before`` to ``after`` (positions in the run's columns): the events to append with the
        decision, and the record of each move for it."""
        follow = self.spec.follow
        assert follow is not None
        drafts: list[EventDraft] = []
        moves: list[dict[str, Any]] = []
        for j, symbol in enumerate(self.spec.symbols):
            if not (np.isfinite(before[j]) and np.isfinite(after[j])):
                continue
            lot = self._lots[j]
            d = lot_delta(before[j], after[j], lot)
            if d == 0:
                continue
            old = self._working_strategy_parent(symbol)
            working = None
            if old is not None:
                signed = old.qty if old.side == "buy" else -old.qty
                working = (signed, old.spec, (ts - old.start_ts) // self.tf_ms)
            qty, cancel = follow_qty(d, working, lot)
            move: dict[str, Any] = {"symbol": symbol, "delta": str(d), "parent": None}
            if cancel:
                assert old is not None
                steps = (ts - old.start_ts) // self.tf_ms
                done = placed(old.qty, old.spec, lot, steps)
                drafts.append(("algo_cancelled", old.parent_id, {
                    "parent_id": old.parent_id, "request_id": None, "at_ts": ts,
                    "placed": str(done), "reason": "the strategy's target moved",
                    "by": "strategy",
                }))  # fmt: skip
                self.cancelled()[old.parent_id] = ts
                move["cancelled"] = old.parent_id
            if qty != 0:
                move["parent"] = self._follow_start(ts, j, qty, drafts)
            moves.append(move)
        return drafts, moves

    def _follow_start(self, ts: int, j: int, qty: Decimal, drafts: list[EventDraft]) -> str:
        follow = self.spec.follow
        assert follow is not None
        symbol = self.spec.symbols[j]
        spec = follow.algo
        profile: dict[str, Any] | None = None
        if spec.kind == "vwap":
            spec, profile = self._vwap_profile(symbol, j, ts, spec, follow.profile_days)
        n = sum(p.start_ts == ts for p in self.parents())
        parent_id = f"algo-{ts}-{n}"
        payload = {
            "parent_id": parent_id, "request_id": None, "source": "strategy",
            "symbol": symbol, "side": "buy" if qty > 0 else "sell", "qty": str(abs(qty)),
            "spec": spec.payload(), "start_ts": ts, "n": n,
            **({"profile": profile} if profile is not None else {}),
        }  # fmt: skip
        drafts.append(("algo_started", parent_id, payload))
        self.parents().append(ActiveParent.of(payload, self.tf_ms))
        return parent_id
