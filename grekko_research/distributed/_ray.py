"""Joining a Ray cluster: the only place the research library calls ``ray.init``.

Ray is an optional extra (``pip install grekko[ray]``): imported here, inside functions,
so nothing else pays its import or needs it installed.
"""

from __future__ import annotations

import os
from typing import Any

from grekko_research.errors import ConfigError

__all__ = ["cluster_cpus", "connect", "require_ray", "writable_copy"]


def require_ray() -> Any:
    """Import and return ``ray``, or say how to install it."""
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            "the ray backend needs Ray: pip install 'grekko[ray]' (or pip install ray)"
        ) from e
    return ray


def connect(address: str | None) -> Any:
    """Join the cluster at ``address`` (``host:port`` of its head, or ``auto``); return ``ray``.

    ``None``: ``$RAY_ADDRESS`` when set, else a private single-machine Ray started for this
    process (no dashboard). A process already connected stays on its cluster.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    target = address or os.environ.get("RAY_ADDRESS") or None
    # The workers import the project's code from their node's installation (or the
    # PYTHONPATH `ray start` was given): only data and task arguments travel.
    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if target is None:
        kwargs.update(include_dashboard=False, num_cpus=os.cpu_count() or 1)
    try:
        ray.init(address=target, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ConfigError(f"cannot join the Ray cluster at {target!r}: {e}") from e
    return ray


def cluster_cpus(ray: Any) -> int:
    """The CPUs of the cluster's nodes (at least 1): how many trials run at once by default."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def writable_copy(data: Any) -> Any:
    """A private copy of an object read from Ray's object store, its arrays writable.

    The store hands out read-only numpy arrays, for which numba would compile (and cache)
    a second set of kernels; one copy per worker and study avoids that.
    """
    from ray import cloudpickle

    # Protocol 4: arrays travel as bytes and come back as fresh, writable copies (protocol
    # 5 would hand back read-only views of those bytes).
    return cloudpickle.loads(cloudpickle.dumps(data, protocol=4))
