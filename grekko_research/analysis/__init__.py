"""Market analysis: L2 order book, regimes, traps and capitulation, as causal features."""
