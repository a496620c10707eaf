"""`py-least-latency`: a Switchyard balancing policy written in Python.

Power of two choices: each pick samples two distinct available endpoints and prefers
the one with the lower cost

    latency_ewma × (in_flight + 1) × (1 + error_penalty × error_rate) / effective_weight

read live from the proxy through the `load` import; the other is the fallback. An
endpoint not measured yet counts `default_latency_ms`.

Build with `./build.sh` (componentize-py); the result, `py-least-latency.wasm`, is
loaded like any policy. CPython inside a component needs more than the default 16 MiB
of memory: give the cluster `policy_limits = { memory_mib = 64 }`.
"""

from typing import List

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.balancing import Needs, Preference, Request
from wit_world.imports import host, load
from wit_world.imports.types import ConfigKey, Endpoint, Health, PolicyInfo, Setup

KEYS = {
    "error_penalty": ("how much a 100% error rate multiplies an endpoint's cost", "10"),
    "default_latency_ms": ("latency assumed for an endpoint not measured yet", "10"),
}


def _number(config, key):
    raw = dict(config).get(key, KEYS[key][1])
    try:
        value = float(raw)
    except ValueError:
        raise Err(f"policy_config.{key}: expected a number, found {raw!r}")
    if value < 0:
        raise Err(f"policy_config.{key}: must be 0 or more, not {value}")
    return value


class _State:
    """The instance's state. Module-level: the export class may be instantiated for
    each call, so nothing is kept on `self`."""

    members: List[Endpoint] = []
    weights: List[float] = []
    penalty = 10.0
    default_latency_us = 10_000.0


def _cost(position: int, figures: load.Figures) -> float:
    latency = figures.latency_ewma_us or _State.default_latency_us
    penalty = 1.0 + _State.penalty * figures.error_rate
    return latency * (figures.in_flight + 1) * penalty / _State.weights[position]


class Balancing(exports.Balancing):
    def describe(self) -> PolicyInfo:
        return PolicyInfo(
            "py-least-latency",
            "power of two choices on latency × load × error penalty (Python)",
            [ConfigKey(name, text, default) for name, (text, default) in KEYS.items()],
        )

    def init(self, setup: Setup) -> Needs:
        for key, _ in setup.config:
            if key not in KEYS:
                raise Err(f"policy_config.{key}: unknown key (this policy knows: "
                          f"{', '.join(KEYS)})")
        _State.penalty = _number(setup.config, "error_penalty")
        _State.default_latency_us = _number(setup.config, "default_latency_ms") * 1000.0
        return Needs(False, False, False, False, [], None)

    def set_members(self, members: List[Endpoint]) -> None:
        available = [m for m in members if m.health != Health.UNAVAILABLE]
        _State.members = available or list(members)
        _State.weights = [max(m.weight * m.weight_factor, 1e-9) for m in _State.members]

    def pick(self, request: Request) -> Preference:
        members = _State.members
        n = len(members)
        if n == 0:
            return Preference(0, (0, 0, 0, 0))
        if n == 1:
            return Preference(1, (members[0].id, 0, 0, 0))
        a = host.random() % n
        b = (a + 1 + host.random() % (n - 1)) % n
        fa, fb = load.pair(members[a].id, members[b].id)
        if _cost(b, fb) < _cost(a, fa):
            a, b = b, a
        return Preference(2, (members[a].id, members[b].id, 0, 0))

    def save_state(self) -> bytes:
        return b""

    def restore_state(self, state: bytes) -> None:
        pass
