"""Solana launches: monitor, safety analyzer (fails closed) and guarded buyer (docs/solana.md).

Modules: :mod:`~live.solana.parse` (pure parsers of launches and trades from RPC answers),
:mod:`~live.solana.curve` (exact bonding-curve math), :mod:`~live.solana.accounts` (mint,
token-account and metadata layouts, PDAs), :mod:`~live.solana.safety` (the analyzer),
:mod:`~live.solana.monitor` (logs/blocks subscriptions, de-duplication, gaps, reconnects),
:mod:`~live.solana.buyer` (orders, keys, exits), :mod:`~live.solana.sniper` (the run: the
event store, the risk engine, the kill switch, reconciliation), :mod:`~live.solana.app` (the
loops the CLI drives) and :mod:`~live.solana.config` (``conf/solana``).

Nothing is imported here: ``solana`` and ``solders`` load only when a module is used.
"""
