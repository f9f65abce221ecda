"""``python -m grekko_research.ml.rl``: train a PPO policy, or judge PPO walk-forward.

    python -m grekko_research.ml.rl train FILE OUT [--bars N] [--timesteps T] [--reward R]
    python -m grekko_research.ml.rl walk-forward FILE [--train-bars N] [--test-bars M] ...

``FILE`` is a candle file ``grekko data import`` accepts (e.g. the shared
``binance-spot_BTC-USDT_1h__nfi.csv.gz``); it is checked and read into a temporary store.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from grekko_research.data.bars import Bars
from grekko_research.data.files import import_file
from grekko_research.data.load import load_bars
from grekko_research.data.store import ParquetStore
from grekko_research.engine import EngineConfig, Fees
from grekko_research.ml.rl.features import ObservationSpec
from grekko_research.ml.rl.train import TrainSpec, train_ppo, walk_forward


def _bars(path: str) -> Bars:
    with tempfile.TemporaryDirectory() as tmp:
        store = ParquetStore(tmp)
        res = import_file(path, store=store)
        key = res.key
        return load_bars(key.symbol, str(key.timeframe), exchange=key.exchange, market=key.market,
                         store=store)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m grekko_research.ml.rl")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("train", "walk-forward"):
        p = sub.add_parser(name)
        p.add_argument("file")
        if name == "train":
            p.add_argument("out")
            p.add_argument("--bars", type=int, default=None, help="train on the first N bars")
        else:
            p.add_argument("--train-bars", type=int, default=2000)
            p.add_argument("--test-bars", type=int, default=700)
            p.add_argument("--anchored", action="store_true")
        p.add_argument("--timesteps", type=int, default=20_000)
        p.add_argument("--reward", default="log_return")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--taker-fee", type=float, default=0.001)
        p.add_argument("--position", action="store_true", help="observe the held position")
        p.add_argument("--anchor", type=int, default=168, help="bars between memory restarts")
    args = ap.parse_args(argv)
    bars = _bars(args.file)
    config = EngineConfig(fees=Fees(taker=args.taker_fee, maker=args.taker_fee))
    obs = ObservationSpec(position=args.position, anchor=args.anchor)
    spec = TrainSpec(timesteps=args.timesteps, reward=args.reward, seed=args.seed, obs=obs)
    started = time.perf_counter()
    if args.cmd == "train":
        policy = train_ppo(bars[: args.bars] if args.bars else bars, config, spec)
        print(f"trained in {policy.meta['train_seconds']} s; wrote {policy.save(args.out)}")
        return
    wf = walk_forward(bars, config, spec, train_bars=args.train_bars, test_bars=args.test_bars,
                      anchored=args.anchored)  # fmt: skip
    print(wf.table().to_string(index=False))
    print(wf.summary().to_string())
    print(f"{len(wf.folds)} folds in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
