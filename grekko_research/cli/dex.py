"""``grekko dex …``: exact AMM quotes and the reproduction report of a pool's logs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from grekko_research.cli.render import console, new_table
from grekko_research.errors import ConfigError, DataError

if TYPE_CHECKING:
    from grekko_research.dex.events import PoolEvent

__all__ = ["app"]

app = typer.Typer(
    help="Exact AMM quotes (Uniswap V3 and forks) and the replay of a pool's logs.",
    no_args_is_help=True,
)

FEE_TIERS = (100, 500, 2500, 3000, 10000)

FeeOpt = Annotated[
    int | None,
    typer.Option("--fee", help="Fee tier in pips (500 = 0.05 %); default: found from the swaps."),
]


def _load(source: Path) -> list[PoolEvent]:
    """Events of a raw log file, or of a stored pool named by address (``[chain:]0x…``)."""
    from grekko_research.dex.events import read_raw_logs

    if not source.is_file():
        if str(source).lower().split(":")[-1].startswith("0x") and not source.suffix:
            from grekko_research.dex.store import PoolStore

            store = PoolStore()
            return store.read_events(store.find(str(source)))
        raise DataError(f"no such log file: {source}")
    events = read_raw_logs(source)
    if not events:
        raise DataError(f"{source}: no pool events in the file")
    return events


def _fee(events: list[PoolEvent], fee: int | None) -> int:
    """The given fee tier, or the one whose math reproduces the most of the first swaps."""
    from grekko_research.dex.replay import replay

    if fee is not None:
        if fee not in FEE_TIERS:
            raise ConfigError(f"--fee {fee}: not a fee tier ({', '.join(map(str, FEE_TIERS))})")
        return fee
    from grekko_research.dex.events import V3Burn, V3Mint
    from grekko_research.dex.pool import TICK_SPACING

    edges = {
        t for e in events if isinstance(e, (V3Mint, V3Burn)) for t in (e.tick_lower, e.tick_upper)
    }
    tiers = [f for f in FEE_TIERS if all(t % TICK_SPACING[f] == 0 for t in edges)]
    head = events[:300]
    scores = {f: replay(head, f).reproduced for f in tiers}
    best = max(scores, key=lambda f: scores[f], default=0)
    if scores.get(best, 0) <= 1:
        raise DataError("no fee tier reproduces the swaps: pass --fee (is this a V3 pool?)")
    return best


def _snapshot(
    path: Path | None,
) -> tuple[dict[int, tuple[int, int]] | None, tuple[int, int, int] | None]:
    """A ``grekko dex snapshot`` file: the tick map and the state it was read with."""
    if path is None:
        return None, None
    try:
        raw = json.loads(path.read_text())
        ticks = {int(t): (int(v["net"]), int(v["gross"])) for t, v in raw["ticks"].items()}
        start = None
        if "sqrt_price_x96" in raw:
            start = (int(raw["sqrt_price_x96"]), int(raw["tick"]), int(raw["liquidity"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: not a tick-map snapshot (grekko dex snapshot): {e}") from None
    return ticks, start


@app.command("replay")
def replay_command(
    file: Annotated[
        Path,
        typer.Argument(help="Raw eth_getLogs rows of one V3 pool (csv/csv.gz), or a stored pool."),
    ],
    fee: FeeOpt = None,
    snapshot: Annotated[
        Path | None,
        typer.Option("--snapshot", help="Tick-map snapshot (JSON) taken before the logs."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--json", help="Also write the per-swap report here.")
    ] = None,
) -> None:
    """Reproduce every swap of a pool's logs with the exact math; name each one that is not."""
    from grekko_research.dex.replay import replay

    t0 = time.perf_counter()
    events = _load(file)
    fee_pips = _fee(events, fee)
    from grekko_research.dex.v3 import MathOverflowError

    try:
        ticks, start = _snapshot(snapshot)
        report = replay(events, fee_pips, snapshot=ticks, start=start)
    except MathOverflowError as e:
        raise DataError(f"{file}: the logs do not fit fee tier {fee_pips}: {e}") from None
    elapsed = time.perf_counter() - t0
    table = new_table(title=f"replay of {file.name} (fee {fee_pips / 1e4:g} %)")
    table.add_column("swaps", justify="right")
    table.add_column("reproduced", justify="right")
    table.add_column("share", justify="right")
    table.add_column("ticks learned", justify="right")
    table.add_column("hidden ticks", justify="right")
    table.add_row(str(report.total), str(report.reproduced), f"{report.share:.2%}",
                  str(report.learned_ticks), str(len(report.unknown_ticks)))  # fmt: skip
    console.print(table)
    console.print("how: " + ", ".join(f"{k} {v}" for k, v in sorted(report.modes().items())))
    misses = report.failures()
    if misses:
        miss = new_table(title="not reproduced")
        for col in ("block", "log", "transaction", "why"):
            miss.add_column(col, overflow="fold")
        for c in misses:
            miss.add_row(str(c.block), str(c.log_index), c.tx_hash[:12] + "…", c.reason)
        console.print(miss)
    if out is not None:
        rows = [{"index": c.index, "block": c.block, "log_index": c.log_index, "tx": c.tx_hash,
                 "mode": c.mode, "reason": c.reason} for c in report.checks]  # fmt: skip
        payload = {"file": str(file), "fee": fee_pips, "swaps": report.total,
                   "reproduced": report.reproduced, "unknown_ticks": report.unknown_ticks,
                   "checks": rows}  # fmt: skip
        out.write_text(json.dumps(payload, indent=1))
        console.print(f"wrote {out}")
    console.print(f"{len(events)} events in {elapsed:.2f} s")


@app.command("quote")
def quote_command(
    pool: Annotated[
        Path,
        typer.Option(
            "--pool",
            help="A raw log file or a stored pool ([chain:]0x…): its state after the logs.",
        ),
    ],
    amount_in: Annotated[
        float | None, typer.Option("--amount-in", help="Exact input, in token units.")
    ] = None,
    amount_out: Annotated[
        float | None, typer.Option("--amount-out", help="Exact output, in token units.")
    ] = None,
    sell: Annotated[
        str, typer.Option("--sell", help="Token paid in: token0 or token1.")
    ] = "token1",
    decimals0: Annotated[int, typer.Option("--decimals0", help="token0's decimals.")] = 6,
    decimals1: Annotated[int, typer.Option("--decimals1", help="token1's decimals.")] = 18,
    fee: FeeOpt = None,
    block: Annotated[
        int | None, typer.Option("--block", help="Quote at the end of this block (default: last).")
    ] = None,
) -> None:
    """Quote a trade exactly on a V3 pool's replayed state: amounts, fee, price impact."""
    from grekko_research.dex.pool import PoolState

    if (amount_in is None) == (amount_out is None):
        raise ConfigError("give exactly one of --amount-in and --amount-out")
    if sell not in ("token0", "token1"):
        raise ConfigError(f"--sell {sell!r}: expected token0 or token1")
    events = _load(pool)
    fee_pips = _fee(events, fee)
    upto = [e for e in events if block is None or e.meta.block <= block]
    if not upto:
        raise DataError(f"{pool}: no events at or before block {block}")
    state = PoolState.from_events(upto, fee_pips)
    zfo = sell == "token0"
    d_in, d_out = (decimals0, decimals1) if zfo else (decimals1, decimals0)
    exact_in = amount_in is not None
    human = amount_in if exact_in else amount_out
    assert human is not None
    raw = round(human * 10 ** (d_in if exact_in else d_out))
    if raw <= 0:
        raise ConfigError("the amount must be positive (at least one raw unit)")
    from grekko_research.dex.v3 import MathOverflowError

    try:
        q = state.quote(raw, zfo, exact_in=exact_in)
    except MathOverflowError as e:
        raise DataError(f"the pool cannot fill this trade: {e}") from None
    scale = 10.0 ** (decimals0 - decimals1)  # raw token1/token0 -> token1 per token0 units
    other = "token0" if not zfo else "token1"
    table = new_table(title=f"exact quote at block {upto[-1].meta.block}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row(f"pay ({sell})", f"{q.amount_in / 10**d_in:,.6f}")
    table.add_row(f"receive ({other})", f"{q.amount_out / 10**d_out:,.6f}")
    table.add_row(f"LP fee ({sell})", f"{q.fee / 10**d_in:,.6f}")
    table.add_row("price before (token1/token0)", f"{q.price_before * scale:.8g}")
    table.add_row("price after (token1/token0)", f"{q.price_after * scale:.8g}")
    table.add_row("price before (token0/token1)", f"{1 / (q.price_before * scale):.8g}")
    table.add_row("price impact (LP fee included)", f"{q.price_impact:.4%}")
    table.add_row("initialised ticks crossed", str(len(q.result.crossed)))
    table.add_row("route", f"{pool.name.split('-')[1] if '-' in pool.name else pool.name} "
                  f"(V3, fee {fee_pips / 1e4:g} %)")  # fmt: skip
    console.print(table)


@app.command("snapshot")
def snapshot_command(
    pool: Annotated[str, typer.Option("--pool", help="The pool's address (0x…).")],
    out: Annotated[Path, typer.Option("--out", help="JSON file to write.")],
    rpc_url: Annotated[
        str | None, typer.Option(envvar="GREKKO_RPC_URL", help="The node's JSON-RPC URL.")
    ] = None,
    block: Annotated[int | None, typer.Option(help="Block to read at (default: latest).")] = None,
) -> None:
    """Read a V3 pool's tick map from a node (the --snapshot input of grekko dex replay)."""
    from grekko_research._atomic import atomic_write_text
    from grekko_research.dex.download import connect, snapshot_ticks

    if not rpc_url:
        raise ConfigError("give the node's JSON-RPC URL: --rpc-url or GREKKO_RPC_URL")
    snap = snapshot_ticks(connect(rpc_url), pool, block=block if block is not None else "latest")
    atomic_write_text(out, json.dumps(snap, indent=1))
    console.print(f"{len(snap['ticks'])} initialised ticks of {snap['pool']} at block "
                  f"{snap['block']} → {out}")  # fmt: skip


def import_pool_files(
    paths: list[Path], data_dir: Path | None, *, replace: bool, as_json: bool
) -> bool:
    """``grekko data import`` of raw pool logs / per-minute pool state; False: none are such."""
    from grekko_research.cli.render import print_json
    from grekko_research.dex.store import (
        PoolStore,
        check_rows,
        key_from_name,
        pool_file_kind,
        read_csv_rows,
    )

    kinds = [pool_file_kind(p) for p in paths]
    if not any(kinds):
        return False
    if not all(kinds):
        other = [str(p) for p, k in zip(paths, kinds, strict=True) if not k]
        raise ConfigError(f"import DEX pool files apart from candle files: {', '.join(other)}")
    store = PoolStore(data_dir)
    plan = [(p, k, key_from_name(p), read_csv_rows(p)) for p, k in zip(paths, kinds, strict=True)]
    for path, kind, _, rows in plan:  # every file checked before any is written
        check_rows(str(kind), rows, str(path))
    results = []
    for path, kind, key, rows in plan:
        write = store.write_logs if kind == "logs" else store.write_poolstate
        added, stored = write(key, rows, replace=replace)
        name = "logs.parquet" if kind == "logs" else "poolstate.parquet"
        results.append({"file": str(path), "chain": key.chain, "pool": key.pool, "kind": kind,
                        "rows_added": added, "rows": stored,
                        "path": str(store.folder(key) / name)})  # fmt: skip
    if as_json:
        print_json(results)
        return True
    for r in results:
        console.print(f"[bold]{Path(str(r['file'])).name}[/bold] → {r['chain']} pool {r['pool']} "
                      f"{r['kind']}: {r['rows_added']:,} new rows, {r['rows']:,} in {r['path']}")  # fmt: skip
    return True


def download_pool(
    chain: str, pool: str, rpc_url: str | None, from_block: int | None, to_block: int | None,
    data_dir: Path | None, max_retries: int, as_json: bool,
) -> None:  # fmt: skip
    """``grekko data download --chain … --pool 0x…``: the pool's logs into the store."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from grekko_research.cli.render import print_json
    from grekko_research.dex.download import connect, download_pool_logs
    from grekko_research.dex.store import PoolKey, PoolStore

    if not rpc_url:
        raise ConfigError("give the node's JSON-RPC URL: --rpc-url or GREKKO_RPC_URL")
    w3 = connect(rpc_url)
    key = PoolKey.make(chain, pool)
    store = PoolStore(data_dir)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                  console=console, disable=as_json) as progress:  # fmt: skip
        task = progress.add_task(key.label(), total=1.0)

        def on_progress(done: int, first: int, last: int) -> None:
            progress.update(task, completed=(done - first + 1) / max(1, last - first + 1))

        r = download_pool_logs(w3, store, key, from_block=from_block, to_block=to_block,
                               max_retries=max_retries, on_progress=on_progress)  # fmt: skip
    path = store.folder(key) / "logs.parquet"
    if as_json:
        print_json({"chain": key.chain, "pool": key.pool, "first_block": r.first_block,
                    "last_block": r.last_block, "fetched": r.fetched, "added": r.added,
                    "rows": r.stored, "requests": r.requests, "retries": r.retries,
                    "path": str(path)})  # fmt: skip
        return
    state = "already up to date" if r.up_to_date else f"{r.added:,} new log rows"
    console.print(f"[bold]{key.label()}[/bold]: blocks {r.first_block}-{r.last_block}: {state}; "
                  f"{r.stored:,} rows in {path} ({r.requests} requests, {r.retries} retries)")  # fmt: skip
