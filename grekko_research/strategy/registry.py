"""Finding strategies by name: Python entry points (group ``grekko.strategies``) plus in-process.

A package adds strategies without touching Grekko by declaring, in its
``pyproject.toml``::

    [project.entry-points."grekko.strategies"]
    my_idea = "my_package.my_idea:MyIdea"

The value names a :class:`~grekko_research.strategy.base.Strategy` subclass.
Notebooks and tests can call :func:`register_strategy` instead.
"""

from __future__ import annotations

import difflib
from importlib.metadata import entry_points

from grekko_research.errors import ConfigError
from grekko_research.strategy.base import Strategy

__all__ = ["GROUP", "available_strategies", "get_strategy", "register_strategy"]

GROUP = "grekko.strategies"
_LOCAL: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Register a strategy class in this process (usable as a decorator); return it."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)) or not cls.name:
        raise ConfigError(f"{cls!r} is not a Strategy subclass with a name")
    _LOCAL[cls.name] = cls
    return cls


def available_strategies() -> list[str]:
    """Return the names of every strategy: installed entry points and registered ones."""
    return sorted({ep.name for ep in entry_points(group=GROUP)} | set(_LOCAL))


def get_strategy(name: str) -> Strategy:
    """Return a strategy instance by name.

    Raises
    ------
    ConfigError
        When no strategy has that name (close names are suggested), or the
        entry point does not load a Strategy subclass whose ``name`` matches.
    """
    if name in _LOCAL:
        return _LOCAL[name]()
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        known = available_strategies()
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"no strategy named {name!r}{hint} (known: {', '.join(known)}; a strategy package "
            "registers under the entry-point group grekko.strategies once pip-installed, see "
            "grekko strategies list)"
        )
    target = found[0].value
    try:
        cls = found[0].load()
    except Exception as exc:  # an installed plugin that fails to import
        raise ConfigError(f"strategy {name!r} ({target}) failed to load: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"strategy {name!r} ({target}) is not a Strategy subclass")
    if cls.name != name:
        raise ConfigError(f"strategy entry point {name!r} loads {target} named {cls.name!r}")
    return cls()
