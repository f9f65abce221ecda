"""Where Hydra looks for configuration, and the overrides it is given.

* :func:`conf_folders` — the primary ``conf/`` folder and any user folders that add
  options to it (``GREKKO_CONF_DIR``);
* :func:`register_strategy_options` — every registered strategy becomes a ``strategy=``
  option, with its declared defaults, even without a YAML file;
* :func:`parse_overrides` — each override parsed on its own, so a syntax error names it;
* :func:`split_name_overrides` — ``strategy.name=X`` taken apart from the rest, since
  switching strategies that way would keep another strategy's parameters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grekko_research.errors import ConfigError

__all__ = [
    "conf_folders",
    "parse_overrides",
    "register_strategy_options",
    "searchpath_override",
    "split_name_overrides",
]

_FRAMEWORK_CONF = Path(__file__).resolve().parents[2] / "conf"
_YAML = (".yaml", ".yml")


def conf_folders(conf: Path | None = None) -> tuple[Path, list[Path]]:
    """Return ``(primary, extra)``: the folder holding ``config.yaml`` and user option folders.

    ``GREKKO_CONF_DIR`` holds one folder or several separated by ``os.pathsep``. A
    folder with its own ``config.yaml`` is the primary configuration (the first one
    wins); a folder without one only adds options to the groups (``strategy/my_idea.yaml``,
    ``data/my_coins.yaml`` …) on top of the primary's, which is then ``./conf`` or the
    framework's. An option may not share a name with one of the primary's: Hydra would
    silently take the primary's file, so that is refused.
    """
    env = os.environ.get("GREKKO_CONF_DIR") or ""
    named = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    for folder in named:
        if not folder.is_dir():
            raise ConfigError(f"GREKKO_CONF_DIR names {folder}, which is not a folder")
    full = [f for f in named if (f / "config.yaml").is_file()]
    extra = [f.resolve() for f in named if f not in full]
    if conf is not None:
        primary = conf
    elif full:
        primary = full[0]
    else:
        candidates = [Path.cwd() / "conf", _FRAMEWORK_CONF]
        found = [c for c in candidates if (c / "config.yaml").is_file()]
        if not found:
            tried = ", ".join(str(c) for c in candidates)
            raise ConfigError(f"no conf/config.yaml found (tried {tried}); set GREKKO_CONF_DIR")
        primary = found[0]
    primary = primary.resolve()
    _refuse_shadowed(primary, extra)
    return primary, extra


def _options(folder: Path) -> dict[str, Path]:
    """Return ``{"group/option": file}`` for the option files one level below ``folder``."""
    out: dict[str, Path] = {}
    for group in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(group.iterdir()):
            if file.suffix in _YAML:
                out[f"{group.name}/{file.stem}"] = file
    return out


def _refuse_shadowed(primary: Path, extra: list[Path]) -> None:
    if not extra:
        return
    own = _options(primary)
    for folder in extra:
        for option, file in _options(folder).items():
            if option in own:
                group, name = option.split("/")
                raise ConfigError(
                    f"{file} would be ignored: {own[option]} has the same name and comes first; "
                    f"rename it (e.g. {group}/my_{name}{file.suffix}) and select it with "
                    f"{group}=my_{name}"
                )


def searchpath_override(extra: list[Path]) -> list[str]:
    """Return the ``hydra.searchpath=[...]`` override adding ``extra`` (or nothing)."""
    if not extra:
        return []
    quoted = ",".join(
        "'file://" + str(p).replace("\\", "\\\\").replace("'", "\\'") + "'" for p in extra
    )
    return [f"hydra.searchpath=[{quoted}]"]


def parse_overrides(overrides: Sequence[str]) -> list[Any]:
    """Parse each override with Hydra's grammar; a ConfigError names the one that does not parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except HydraException as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            why = next(
                (ln for ln in lines if not ln.startswith(("See https", "LexerNoViable", "^"))),
                "syntax error",
            )
            why = why.removeprefix(f"Error parsing override '{text}'").strip() or "syntax error"
            raise ConfigError(
                f"override {text!r} does not parse: {why}. Overrides are key=value or "
                "group=option; quote a value holding brackets, commas or spaces "
                "(key='a,b'), and close every [ or {"
            ) from None
    return parsed


def split_name_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return ``(strategy.name values, the other overrides)``."""
    parsed = parse_overrides(overrides)
    names: list[str] = []
    rest: list[str] = []
    for text, o in zip(overrides, parsed, strict=True):
        if o.get_key_element().lstrip("+~") == "strategy.name" and not o.is_delete():
            names.append(str(o.value()))
        else:
            rest.append(text)
    return names, rest


def _selected_strategies(overrides: Sequence[str]) -> set[str]:
    selected = set()
    for o in parse_overrides(overrides):
        if o.key_or_group == "strategy" and not o.is_delete() and isinstance(o.value(), str):
            selected.add(o.value())
    return selected


def register_strategy_options(overrides: Sequence[str], folders: Sequence[Path]) -> None:
    """Make every registered strategy without a YAML file a ``strategy=<name>`` option.

    A strategy with ``strategy/<name>.yaml`` in one of ``folders`` keeps it (its tuned
    defaults, its data; Hydra would otherwise merge the two). A strategy selected in ``overrides`` enters with
    its declared parameter defaults (they appear in the run's resolved config); the
    others enter with no parameters (their defaults apply when the strategy is built),
    which avoids importing every installed plugin on every command.
    """
    from hydra.core.config_store import ConfigStore

    from grekko_research.strategy import available_strategies, get_strategy, params_to_mapping

    store = ConfigStore.instance()
    selected = _selected_strategies(overrides)
    own_searchpath = any(o.split("=", 1)[0].lstrip("+~") == "hydra.searchpath" for o in overrides)
    known = set(available_strategies())
    for name in sorted(selected - known):
        has_yaml = any((f / "strategy" / f"{name}{e}").is_file() for f in folders for e in _YAML)
        if not has_yaml and not own_searchpath:
            get_strategy(name)  # raises: no strategy of that name, close names suggested
    for name in available_strategies():
        if any((f / "strategy" / f"{name}{ext}").is_file() for f in folders for ext in _YAML):
            # the store is per process: drop a node an earlier call (other folders) left
            store.repo.get("strategy", {}).pop(f"{name}.yaml", None)
            continue
        params: dict[str, Any] = {}
        if name in selected:
            strategy = get_strategy(name)  # a plugin that fails to load says so here
            params = params_to_mapping(strategy.Params())
        store.store(group="strategy", name=name, node={"name": name, "params": params})
