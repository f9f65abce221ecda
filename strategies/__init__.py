"""Grekko's reference strategies: signal code only, registered as ``grekko.strategies`` entry points."""
