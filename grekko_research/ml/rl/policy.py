"""A trained policy as plain arrays: the deterministic actor of a PPO agent, run with numpy.

Stable-Baselines3 keeps the actor as torch layers. Trading needs only its deterministic
decision (the most probable action), which is a small multilayer perceptron: exporting its
weights lets a strategy, a backtest and ``grekko-live`` decide without torch, in microseconds,
and makes the artefact a few kilobytes of ``.npz`` plus a JSON card (observation features,
action levels, training data window, reward, seed, library versions, checksum).

The export is checked: :func:`from_sb3` compares the numpy decisions with the agent's own
``predict(deterministic=True)`` on the observations it is given and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grekko_research._atomic import atomic_path, atomic_write_text
from grekko_research.errors import ConfigError, DataError
from grekko_research.ml.rl.features import ObservationSpec, anchor_rows, observations

__all__ = ["Policy", "from_sb3", "load_policy"]

_ACTIVATIONS = ("tanh", "relu")
_WEIGHTS = "policy.npz"
_CARD = "policy.json"


@dataclass(frozen=True, eq=False)
class Policy:
    """A deterministic policy: observation → index into ``levels`` (a target fraction)."""

    obs: ObservationSpec
    levels: tuple[float, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weight (out, in), bias (out,)) each
    activation: str = "tanh"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.activation not in _ACTIVATIONS:
            raise ConfigError(f"policy activation must be one of {_ACTIVATIONS}")
        if not self.layers:
            raise ConfigError("a policy needs at least its output layer")
        width = self.obs.size
        for i, (w, b) in enumerate(self.layers):
            if w.ndim != 2 or w.shape[1] != width or b.shape != (w.shape[0],):
                raise ConfigError(
                    f"policy layer {i}: weight {w.shape} / bias {b.shape} do not take {width} inputs"
                )
            width = w.shape[0]
        if width != len(self.levels):
            raise ConfigError(f"policy outputs {width} actions for {len(self.levels)} levels")

    def actions(self, obs: np.ndarray) -> np.ndarray:
        """Return the action of each row of ``obs`` ``(n, obs.size)`` (argmax of the logits)."""
        x = np.asarray(obs, dtype=np.float32)
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            x = x @ w.T + b
            if i < last:
                x = np.tanh(x) if self.activation == "tanh" else np.maximum(x, 0)
        out: np.ndarray = np.argmax(x, axis=1)
        return out

    def flat(self) -> int:
        """The action closest to flat: the position the memory restarts from."""
        return int(np.argmin(np.abs(np.asarray(self.levels))))

    def targets(
        self, close: np.ndarray, index: np.ndarray | None = None, bar_ms: int | None = None
    ) -> np.ndarray:
        """Return the target fraction per bar of one symbol's closes (NaN during warm-up).

        A policy that observes its position (``obs.position``) needs the bars' open times
        ``index`` (ms) and ``bar_ms``: its memory restarts from flat at the anchor rows
        (:func:`~grekko_research.ml.rl.features.anchor_rows`) and its targets start at the
        first anchor after the market warm-up.
        """
        obs = observations(close, self.obs)
        out = np.full(obs.shape[0], np.nan)
        ok = ~np.isnan(obs).any(axis=1)
        levels = np.asarray(self.levels)
        if not self.obs.position:
            if ok.any():
                out[ok] = levels[self.actions(obs[ok])]
            return out
        if index is None or bar_ms is None:
            raise ConfigError("a policy observing its position needs the bars' index and bar_ms")
        rows = np.flatnonzero(ok)
        if not len(rows):
            return out
        # the action for each row under each held level: the recursion below only looks up
        table = np.column_stack([
            self.actions(np.column_stack([obs[rows], np.full(len(rows), lv, np.float32)]))
            for lv in levels
        ])  # fmt: skip
        anchors = anchor_rows(np.asarray(index)[rows], bar_ms, self.obs.anchor)
        held, started = self.flat(), False
        for i, row in enumerate(rows):
            if anchors[i]:
                held, started = self.flat(), True
            if started:
                held = int(table[i, held])
                out[row] = levels[held]
        return out

    def warmup(self) -> int:
        return self.obs.decision_warmup()

    # -- persistence ------------------------------------------------------------------

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``policy.npz`` and ``policy.json`` into ``folder``; return the folder."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": w for i, (w, _) in enumerate(self.layers)}
        arrays |= {f"b{i}": b for i, (_, b) in enumerate(self.layers)}
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
        blob = buf.getvalue()
        with atomic_path(path / _WEIGHTS) as tmp:
            tmp.write_bytes(blob)
        card = {
            "format": 1,
            "obs": self.obs.to_dict(),
            "levels": list(self.levels),
            "activation": self.activation,
            "n_layers": len(self.layers),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "meta": self.meta,
        }
        atomic_write_text(path / _CARD, json.dumps(card, indent=2, sort_keys=True) + "\n")
        return path


def load_policy(folder: str | os.PathLike[str]) -> Policy:
    """Load a policy :meth:`Policy.save` wrote; a changed or truncated weight file is refused."""
    path = Path(folder)
    try:
        card = json.loads((path / _CARD).read_text())
        blob = (path / _WEIGHTS).read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"no policy at {path}: {exc.filename} is missing") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path / _CARD}: not JSON ({exc})") from exc
    if hashlib.sha256(blob).hexdigest() != card.get("sha256"):
        raise DataError(f"{path / _WEIGHTS}: checksum differs from {_CARD} (changed or truncated)")
    with np.load(io.BytesIO(blob)) as arrays:
        layers = tuple(
            (arrays[f"w{i}"].astype(np.float32), arrays[f"b{i}"].astype(np.float32))
            for i in range(int(card["n_layers"]))
        )
    return Policy(
        obs=ObservationSpec.from_dict(card["obs"]),
        levels=tuple(float(x) for x in card["levels"]),
        layers=layers,
        activation=str(card["activation"]),
        meta=dict(card.get("meta", {})),
    )


def from_sb3(
    model: Any,
    obs: ObservationSpec,
    levels: tuple[float, ...],
    check_obs: np.ndarray,
    meta: dict[str, Any] | None = None,
) -> Policy:
    """Export a Stable-Baselines3 PPO ``MlpPolicy`` actor with a discrete action space.

    ``check_obs`` ``(m, obs.size)``: observations on which the export must decide exactly as
    ``model.predict(..., deterministic=True)`` does (else :class:`DataError`).
    """
    import torch

    pol = model.policy
    act = type(pol.activation_fn()).__name__.lower()
    if act not in _ACTIVATIONS:
        raise ConfigError(f"cannot export activation {act!r} (supported: {_ACTIVATIONS})")
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    with torch.no_grad():
        for mod in [*pol.mlp_extractor.policy_net, pol.action_net]:
            if isinstance(mod, torch.nn.Linear):
                layers.append(
                    (mod.weight.detach().cpu().numpy().astype(np.float32).copy(),
                     mod.bias.detach().cpu().numpy().astype(np.float32).copy())
                )  # fmt: skip
    policy = Policy(obs, tuple(levels), tuple(layers), act, dict(meta or {}))
    want, _ = model.predict(np.asarray(check_obs, np.float32), deterministic=True)
    got = policy.actions(check_obs)
    if not np.array_equal(np.asarray(want).reshape(-1), got):
        bad = int(np.sum(np.asarray(want).reshape(-1) != got))
        raise DataError(f"exported policy disagrees with the agent on {bad} of {len(got)} rows")
    return policy
