import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))


@pytest.fixture
def toy_recipe():
    """A complete recipe dict on the toy plugin: trains in about a second."""
    return {
        "name": "toy",
        "plugins": ["toy_plugin"],
        "data": {"dataset": {"name": "toy", "args": {"size": 48}}, "modalities": ["skeleton"]},
        "model": {"encoders": {"skeleton": {"name": "toy_mlp", "args": {"dim": 16}}}},
        "train": {"epochs": 3, "batch_size": 8, "optimizer": {"name": "sgd", "lr": 0.05}, "log_every": 2},
        "eval": {"batch_size": 16},
    }


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread, and a shared CPU makes two threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session", autouse=True)
def private_trust_store(tmp_path_factory):
    """Runs the tests train are remembered as trusted (fusion.train.trust) in a temporary folder, not in ~."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUSION_STATE_DIR", str(tmp_path_factory.mktemp("fusion-state")))
        yield
