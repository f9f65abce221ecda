"""The session's peers, reused: anvil with the Uniswap world and the DEX hot key
(tests/dex_live), the Solana test peer (tests/solana)."""

from tests.dex_live.conftest import dex, dex_world  # noqa: F401 (fixtures)
from tests.solana.conftest import solana_peer, solana_peer_thread  # noqa: F401 (fixtures)
