"""``grekko alpha …``: download alternative data, list and show it, score sentiment, report yields."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from grekko_research.cli.render import console, new_table
from grekko_research.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(
    help="Alternative data: download news, social, developer, trends, DeFi and on-chain series;"
    " list, show, score sentiment, report yields.",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Store folder (default: GREKKO_DATA_DIR or ./data)."),
]


def _store(store: Path | None) -> Any:
    from grekko_research.alpha.store import AltStore

    return AltStore(store)


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


def _onchain_kwargs(tokens: list[str], labels: list[str], min_amount: float) -> dict[str, Any]:
    from grekko_research.alpha.connectors.onchain import FlowRules, TokenSpec

    specs = {}
    for raw in tokens:
        try:
            name, rest = raw.split("=", 1)
            address, decimals, start = ([*rest.split(":"), "18", "0"])[:3]
            specs[name] = TokenSpec(address, int(decimals), int(start))
        except ValueError:
            raise ConfigError(
                f"--token {raw!r}: expected SYMBOL=ADDRESS[:DECIMALS[:START_BLOCK]]"
            ) from None
    names = {}
    for raw in labels:
        if "=" not in raw:
            raise ConfigError(f"--label {raw!r}: expected ADDRESS=NAME")
        address, name = raw.split("=", 1)
        names[address.lower()] = name
    return {"tokens": specs, "rules": FlowRules(names, min_amount)}


@app.command("download")
def download_command(
    source: Annotated[
        str, typer.Argument(help="news, reddit, telegram, x, github, trends, defillama, onchain")
    ],
    entities: Annotated[
        list[str],
        typer.Argument(
            help="What about: BTC, a subreddit, a channel, owner@repo, a term, 'pools' or a pool id, a token symbol."
        ),
    ],
    store: StoreOpt = None,
    max_pages: Annotated[
        int | None,
        typer.Option("--max-pages", help="Stop an entity after this many pages (resume later)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="Another API base URL (a mirror or a local peer)."),
    ] = None,
    token: Annotated[
        list[str] | None,
        typer.Option("--token", help="onchain: SYMBOL=ADDRESS[:DECIMALS[:START_BLOCK]]"),
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="onchain: ADDRESS=EXCHANGE (repeat)")
    ] = None,
    min_amount: Annotated[
        float, typer.Option("--min-amount", help="onchain: a large transfer, in tokens")
    ] = float("inf"),
    timeframe: Annotated[
        str, typer.Option("--timeframe", help="trends: pytrends window")
    ] = "today 3-m",
) -> None:
    """Download SOURCE for each entity incrementally into the store (keys from the environment)."""
    from rich.progress import Progress

    from grekko_research.alpha.connectors import connector_class
    from grekko_research.alpha.connectors.base import download

    cls = connector_class(source)
    kwargs: dict[str, Any] = {}
    if source == "onchain":
        kwargs = _onchain_kwargs(token or [], label or [], min_amount)
        if base_url:
            kwargs["rpc_url"] = base_url
    elif source == "reddit" and base_url:
        kwargs = {"oauth_url": base_url, "reddit_url": base_url}
    elif source == "x" and base_url:
        kwargs = {"api_url": base_url}
    elif source == "trends":
        kwargs = {"timeframe": timeframe, **({"api_url": base_url} if base_url else {})}
    elif source == "telegram" and base_url:
        raise ConfigError(
            "telegram: --base-url does not apply; the client connects to the data centre "
            "its TELEGRAM_SESSION names"
        )
    elif base_url:
        kwargs = {"base_url": base_url}
    connector = cls(**kwargs)
    alt = _store(store)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{source}", total=None)

        def progress(entity: str, pages: int, added: int) -> None:
            bar.update(task, description=f"{source} {entity}: page {pages}, {added} new rows")

        report = download(
            connector,
            entities,
            alt,
            now_ms=lambda: int(time.time() * 1000),
            max_pages=max_pages,
            progress=progress,
        )
    table = new_table(title=f"{source} into {alt.root / 'alt'}")
    for col in ("entity", "pages", "new rows", "rows", "complete", "cursor"):
        table.add_column(col)
    for entity, info in report.entities.items():
        table.add_row(
            entity, str(info["pages"]), str(info["added"]), str(info["rows"]),
            "yes" if info["complete"] else "no (rerun resumes)", str(info["cursor"] or "-"),
        )  # fmt: skip
    console.print(table)


@app.command("list")
def list_command(store: StoreOpt = None) -> None:
    """List the sources (with what they need) and every stored alternative series."""
    from grekko_research.alpha.connectors import SOURCES

    sources = new_table(title="sources")
    sources.add_column("source")
    sources.add_column("what, keys")
    for name, (_, _, status) in SOURCES.items():
        sources.add_row(name, status)
    sources.add_row("sentiment", "derived: grekko alpha score")
    sources.add_row("tradingview", "received: the grekko-live API's webhook")
    console.print(sources)
    alt = _store(store)
    series = alt.series()
    table = new_table(title=f"stored in {alt.root / 'alt'}")
    for col in ("source", "entity", "rows", "first published", "last published", "cursor"):
        table.add_column(col)
    for key in series:
        span = alt.span(key) or {}
        table.add_row(
            key.source, key.entity, str(span.get("rows", 0)), _when(span.get("first_ms")),
            _when(span.get("last_ms")), alt.cursor(key) or "-",
        )  # fmt: skip
    console.print(table if series else "no alternative data stored yet")


@app.command("show")
def show_command(
    source: Annotated[str, typer.Argument(help="The source")],
    entity: Annotated[str, typer.Argument(help="The entity")],
    store: StoreOpt = None,
    rows: Annotated[int, typer.Option("--rows", help="How many of the newest rows")] = 20,
) -> None:
    """Show the newest rows of one series with their three times."""
    from grekko_research.alpha.store import AltKey

    alt = _store(store)
    frame = alt.read(AltKey(source, entity)).tail(rows)
    table = new_table(title=f"{source}/{entity}: {len(frame)} newest rows")
    cols = [c for c in frame.columns if c not in ("event_ms", "published_ms", "ingested_ms")]
    for col in ("published", "event", "ingested", *cols):
        table.add_column(col, overflow="fold", max_width=60)
    for _, r in frame.iterrows():
        table.add_row(
            _when(int(r["published_ms"])), _when(int(r["event_ms"])), _when(int(r["ingested_ms"])),
            *(str(r[c])[:120] for c in cols),
        )  # fmt: skip
    console.print(table)


@app.command("score")
def score_command(
    store: StoreOpt = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="A local transformer folder (default: VADER + crypto lexicon)."
        ),
    ] = None,
) -> None:
    """Score every stored news/social text into per-asset sentiment series."""
    from grekko_research.alpha.sentiment import LexiconSentiment, TransformerSentiment, score_store

    scorer = TransformerSentiment(model) if model else LexiconSentiment()
    added = score_store(_store(store), model=scorer)
    table = new_table(title=f"sentiment ({scorer.name})")
    table.add_column("asset")
    table.add_column("new rows")
    for asset, n in sorted(added.items()):
        table.add_row(asset, str(n))
    console.print(table if added else "no news or social text stored to score")


@app.command("yields")
def yields_command(
    store: StoreOpt = None,
    protocol: Annotated[
        list[str] | None,
        typer.Option("--protocol", help="Allowed protocols (repeat or comma-separate)"),
    ] = None,
    chain: Annotated[list[str] | None, typer.Option("--chain", help="Allowed chains")] = None,
    min_tvl: Annotated[float, typer.Option("--min-tvl", help="Minimum TVL, USD")] = 10_000_000.0,
    max_weight: Annotated[float, typer.Option("--max-weight", help="Cap per pool")] = 0.4,
    top: Annotated[int, typer.Option("--top", help="Pools in the allocation")] = 5,
    capital: Annotated[
        float, typer.Option("--capital", help="Show amounts for this capital")
    ] = 0.0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the report (Markdown)")
    ] = None,
) -> None:
    """Rank DeFi pools by risk-adjusted yield and propose an allocation (a report; no trading)."""
    from grekko_research.alpha.yields import YieldPolicy, parse_list, rank_pools, yield_report

    policy = YieldPolicy(
        protocols=parse_list(protocol), chains=parse_list(chain), min_tvl_usd=min_tvl,
        max_weight=max_weight, top=top,
    )  # fmt: skip
    ranked = rank_pools(_store(store), int(time.time() * 1000), policy)
    text = yield_report(ranked, capital=capital)
    console.print(text, markup=False)
    if out is not None:
        from grekko_research._atomic import atomic_write_text

        atomic_write_text(out, f"# DeFi yield report\n\n{text}\n")
        console.print(f"report written to {out}")
