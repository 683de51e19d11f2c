"""The simulated village: contract-valid messages, reproducible, with the scripted flood."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from villagewatch.config import FloodScenario, SimulateSettings, load_deployment
from villagewatch.contract import Decoded, Decoder
from villagewatch.sim.village import VillageSimulator, flood_offset_cm

REPO = Path(__file__).resolve().parents[3]
DEPLOYMENT = load_deployment(REPO / "config/demo/villagewatch.yaml")
VILLAGE = DEPLOYMENT.villages[0]
T0 = 1_795_000_000_000


def run_sim(settings: SimulateSettings, n: int, step_ms: int = 1000) -> list[tuple[str, bytes]]:
    sim = VillageSimulator(VILLAGE, settings, boot="sim-1")
    out = []
    for i in range(n):
        m = sim.next_message(T0 + i * step_ms, T0)
        out.append((m.topic, m.payload))
    return out


def test_every_simulated_message_passes_the_contract() -> None:
    decoder = Decoder(devices=DEPLOYMENT.device_registry())
    kinds: Counter[str] = Counter()
    for topic, payload in run_sim(SimulateSettings(seed=3), 5000):
        out = decoder.decode(topic, payload, (T0 + 10_000_000) * 1_000_000)
        assert isinstance(out, Decoded), out
        for r in out.readings:
            kinds[r.kind] += 1
        for e in out.events:
            kinds[f"{e.kind}:{e.type}"] += 1
    assert kinds["water_level"] and kinds["rain_gauge"] and kinds["camera"]
    assert (
        kinds["smart_lock:unlock"] and kinds["smart_lock:lock"] and kinds["smart_lock:wrong_code"]
    )


def test_same_seed_same_village() -> None:
    assert run_sim(SimulateSettings(seed=7), 300) == run_sim(SimulateSettings(seed=7), 300)
    assert run_sim(SimulateSettings(seed=7), 300) != run_sim(SimulateSettings(seed=8), 300)


def test_sequence_numbers_count_up_per_device() -> None:
    seqs: dict[str, list[int]] = {}
    for topic, payload in run_sim(SimulateSettings(), 500):
        body = orjson.loads(payload)
        item = body.get("reading") or body.get("event")
        seqs.setdefault(topic.split("/")[3], []).append(item["seq"])
    assert all(s == list(range(len(s))) for s in seqs.values())


FLOOD = FloodScenario(
    device="wl-bridge", start_s=100, rise_cm=180, rise_s=1000, hold_s=500, fall_s=2000
)


@pytest.mark.parametrize(
    ("t", "expected"),
    [(0, 0), (100, 0), (600, 90), (1100, 180), (1600, 180), (2600, 90), (3600, 0), (9999, 0)],
)
def test_flood_rises_holds_and_falls(t: float, expected: float) -> None:
    assert flood_offset_cm(FLOOD, t) == pytest.approx(expected)


def test_flood_shows_at_its_gauge_only() -> None:
    settings = SimulateSettings(seed=1, flood=FLOOD)
    levels: dict[str, list[float]] = {}
    # one message per device per simulated 10 s, for 6000 s
    n = 6000 // 10 * len(VILLAGE.devices)
    step = 10_000 // len(VILLAGE.devices)
    for _topic, payload in run_sim(settings, n, step):
        body = orjson.loads(payload)
        if "level_cm" in body.get("reading", {}):
            levels.setdefault(body["device"], []).append(body["reading"]["level_cm"])
    bridge, sluice = levels["wl-bridge"], levels["wl-sluice"]
    assert max(bridge) - min(bridge) > 170
    assert max(sluice) - min(sluice) < 15
