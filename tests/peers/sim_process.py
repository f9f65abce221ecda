"""The exchange simulator in its own process, so that runner processes can be killed around it.

Run: ``python tests/peers/sim_process.py --candles FILE --bar N --key K --secret S``. It prints
one JSON line ``{"url": ...}`` when it listens, then answers commands read from standard input,
one per line, with one JSON line each:

- ``ledger``: every order (client id, side, status, executed quantity) and every fill
  (client id, side, quantity, price, trade id) of the simulated account;
- ``fault KIND JSON``: ``Simulator.set_fault(KIND, **params)``;
- ``requests``: how many requests each ``METHOD path`` got, and with which statuses;
- ``quit``: stop.

With ``--follow FILE`` the market clock moves to the time (ms) a runner writes into FILE
(``tests/peers/algo_crash.py``: each replayed bar's next open), acknowledged in ``FILE.at``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


async def serve(args: argparse.Namespace) -> None:
    import pandas as pd

    from live.sim import start_simulator

    frame = pd.read_csv(args.candles).head(args.bars).reset_index(drop=True)
    sim = await start_simulator(
        candles={"BTCUSDT": frame},
        api_key=args.key,
        api_secret=args.secret,
        balances={"USDT": "100000000", "BTC": "0"},
    )
    sim.advance_to(int(frame.timestamp[args.bar]))
    if args.speed:
        sim.run_clock(int(frame.timestamp[args.bar]), speed=args.speed)
    if args.follow:
        asyncio.get_running_loop().create_task(_follow(sim, Path(args.follow)))
    print(json.dumps({"url": sim.url}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line or line == "quit":
            break
        command, _, rest = line.partition(" ")
        if command == "ledger":
            answer = {
                "orders": [
                    [o.client_order_id, o.side, o.status, str(o.executed)] for o in sim.orders
                ],
                "fills": [
                    [f.client_order_id, f.side, str(f.qty), str(f.price), str(f.trade_id)]
                    for f in sim.ledger
                ],
            }
        elif command == "requests":
            counts: dict[str, int] = {}
            for r in sim.requests:
                key = f"{r.method} {r.path} {r.status}"
                counts[key] = counts.get(key, 0) + 1
            answer = counts
        elif command == "fault":
            kind, _, params = rest.partition(" ")
            sim.set_fault(kind, **json.loads(params or "{}"))
            answer = {"ok": True}
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)
    await sim.close()


async def _follow(sim: object, path: Path) -> None:
    """``--follow FILE``: move the market clock to the time a runner writes into FILE, then
    write that time into FILE.at (the runner waits for it: its decision meets that market)."""
    import os

    done = path.with_name(path.name + ".at")
    while True:
        try:
            target = int(path.read_text() or 0)
        except (OSError, ValueError):
            target = 0
        now = sim.book.now  # type: ignore[attr-defined]
        if target > now:
            sim.advance_to(target)  # type: ignore[attr-defined]
        at = max(target, now)
        if not done.exists() or int(done.read_text() or 0) != at:
            tmp = done.with_name(done.name + ".tmp")
            tmp.write_text(str(at))
            os.replace(tmp, done)
        await asyncio.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", required=True)
    parser.add_argument("--bars", type=int, default=2000)
    parser.add_argument("--bar", type=int, default=100, help="market clock at this bar's open")
    parser.add_argument("--speed", type=float, default=0.0, help="run the market clock")
    parser.add_argument("--follow", default="", help="move the clock to the time in this file")
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
