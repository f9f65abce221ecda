"""AMM speed: a day of the 0.05 % USDC/WETH pool replayed exactly, and the float quote path.

Prints, each beside a reference measured in the same run (ratios compare across machines):

* replay: decoding the day's 6,234 raw log rows, then re-running all 6,046 swaps exactly from
  the state before each (``grekko_research.dex.replay``) - against reading the same gzip CSV
  with the standard ``csv`` module (the floor for any replay that starts from the file);
* quotes: the float64 numba path (``_nb.quote_exact_in_many_nb``) in swaps/s - against the
  exact integer ``PoolState.quote`` and against the same float kernel run as plain Python.

Run: ``.venv/bin/python benchmarks/dex_amm.py [--quotes 1000000] [--repeat 5]``; needs the
shared data (``$GREKKO_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import statistics
import time
from collections.abc import Callable

import numpy as np

from grekko_research.dex._nb import float_pool, quote_exact_in_many_nb, quote_exact_in_nb
from grekko_research.dex.events import read_raw_logs
from grekko_research.dex.pool import PoolState
from grekko_research.dex.replay import replay
from grekko_research.paths import shared_data_dir

RAW = "uniswap/ethereum-0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640-2024-01-05.raw.csv.gz"


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quotes", type=int, default=1_000_000)
    ap.add_argument("--exact-quotes", type=int, default=3_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    path = shared_data_dir() / RAW

    def read_csv() -> int:
        with gzip.open(path, "rt", newline="") as fh:
            return sum(1 for _ in csv.DictReader(fh))

    rows = read_csv()
    events = read_raw_logs(path)
    report = replay(events, 500)
    t_csv = _best(read_csv, args.repeat)
    t_decode = _best(lambda: read_raw_logs(path), args.repeat)
    t_replay = _best(lambda: replay(events, 500), args.repeat)
    print(f"replay of one day, 0.05 % pool: {rows} log rows, {report.total} swaps, "
          f"{report.reproduced} reproduced exactly ({report.share:.2%})")  # fmt: skip
    print(f"  read csv (reference)      {t_csv * 1e3:8.1f} ms")
    print(f"  decode                    {t_decode * 1e3:8.1f} ms   {t_decode / t_csv:5.2f}x csv")
    print(f"  replay (learn + re-run)   {t_replay * 1e3:8.1f} ms   {t_replay / t_csv:5.2f}x csv")
    total = t_decode + t_replay
    print(f"  decode + replay           {total * 1e3:8.1f} ms   {total / t_csv:5.2f}x csv")

    state = PoolState.from_events(events[: len(events) // 2], 500)
    pool = float_pool(state)
    rng = np.random.default_rng(20240105)
    zfo = rng.random(args.quotes) < 0.5
    # 10 .. 10M USDC in, or 0.005 .. 5,000 WETH in: most large ones cross ticks
    amounts = np.where(zfo, 10 ** rng.uniform(7, 13, args.quotes),
                       10 ** rng.uniform(15.7, 21.7, args.quotes))  # fmt: skip
    quote_exact_in_many_nb(pool, zfo[:10], amounts[:10])  # compile / load the cache
    t_nb = _best(lambda: quote_exact_in_many_nb(pool, zfo, amounts), args.repeat)
    n_ex = args.exact_quotes
    ints = [int(a) for a in amounts[:n_ex]]
    t_exact = _best(
        lambda: [state.quote(a, bool(z)) for a, z in zip(ints, zfo[:n_ex], strict=True)], 1
    )
    py = quote_exact_in_nb.py_func
    t_py = _best(
        lambda: [
            py(pool, bool(z), float(a)) for a, z in zip(amounts[:n_ex], zfo[:n_ex], strict=True)
        ],
        1,
    )
    nb_rate, ex_rate, py_rate = args.quotes / t_nb, n_ex / t_exact, n_ex / t_py
    print(f"quotes against the pool at mid-day ({len(pool.ticks)} initialised ticks known)")
    print(f"  float64 numba             {nb_rate:12,.0f} swaps/s")
    print(f"  exact integers (ref)      {ex_rate:12,.0f} swaps/s   numba {nb_rate / ex_rate:,.0f}x")
    print(f"  same float, plain Python  {py_rate:12,.0f} swaps/s   numba {nb_rate / py_rate:,.0f}x")


if __name__ == "__main__":
    main()
