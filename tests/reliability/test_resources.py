"""Resource faults: a data-loader worker that dies is named with its sample; memory stays flat."""

import copy

import pytest

from fusion.errors import DataError
from fusion.hookspecs import hookimpl
from fusion.recipe import from_dict
from fusion.train.trainer import Trainer


def test_dead_worker_is_reported_with_the_sample_id(toy_recipe, tmp_path):
    toy_recipe["data"]["dataset"]["args"]["die_on_index"] = 13
    toy_recipe["data"]["num_workers"] = 2
    toy_recipe["train"]["epochs"] = 1
    with pytest.raises(DataError, match=r"worker died while loading sample 13 \(id toy0013\)"):
        Trainer(from_dict(copy.deepcopy(toy_recipe)), tmp_path / "run", progress=False).fit()


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


class RssProbe:
    """A plugin recording the process's resident memory at every checkpoint event."""

    def __init__(self):
        self.samples = []

    @hookimpl
    def fusion_run_event(self, event, state):
        if event == "checkpoint":
            self.samples.append((state["global_step"], _rss_mib()))


@pytest.mark.slow
def test_memory_stays_flat_over_a_long_epoch(toy_recipe, tmp_path):
    from fusion.registry import get_registry

    toy_recipe["data"]["dataset"]["args"].update(size=4800, test_size=16)
    toy_recipe["train"].update(epochs=1, batch_size=8, checkpoint_every_steps=50, log_every=50)
    recipe = from_dict(copy.deepcopy(toy_recipe))
    probe = RssProbe()
    registry = get_registry(tuple(recipe["plugins"]))
    registry.manager.register(probe, name="rss-probe")
    try:
        Trainer(recipe, tmp_path / "run", progress=False).fit()
    finally:
        registry.manager.unregister(name="rss-probe")
    steady = [rss for step, rss in probe.samples if 100 <= step <= 600]
    assert len(steady) >= 8
    assert max(steady) - steady[0] < 16, probe.samples  # MiB over 500 steps: no per-step growth
