"""A child process for the crash test: start the DEX venue, submit one order, SIGKILL itself
at the step named by argv (never returns normally when a step is named)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

from live.chain.dex_conf import load_dex_venue
from live.chain.keys import load_signer
from live.events import EventStore
from live.venues.base import OrderRequest
from live.venues.dex import DexVenue


def main() -> None:
    conf_dir, tokens_dir, log, cid, qty, step = sys.argv[1:7]
    config = load_dex_venue("anvil_dex", conf_dir=Path(conf_dir), tokens_dir=Path(tokens_dir),
                            overrides={"confirmations": 1})  # fmt: skip
    signer = load_signer(key_env=config.key_env, what="DEX hot key")
    venue = DexVenue(config, signer, EventStore.open(log), clock=lambda: 1_700_000_000_000)

    def hook(name: str, rec: object) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    async def go() -> None:
        await venue.start()
        venue.sender.after_step = hook
        await venue.submit(OrderRequest(cid, "A/B", "sell", Decimal(qty)))
        await venue.close()

    asyncio.run(go())


if __name__ == "__main__":
    main()
