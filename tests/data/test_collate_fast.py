"""The collator's fast paths (issue 20, video loader): batches written straight into their final tensor,
in shared memory inside a worker, and rgb clips converted uint8 -> float in one pass per clip.
The fast path must give the same bits as the per-sample path it replaces."""

import importlib
import os

import numpy as np
import torch

import fusion
from fusion.data import Collator
from fusion.data import collate as collate_module
from fusion_plugins.rgb.modality import rgb_to_tensor, stack_rgb
from fusion_plugins.skeleton.modality import skeleton_to_tensor


def reference_rgb(array: np.ndarray) -> torch.Tensor:
    """The conversion as it was before the fast path: float, divide, permute, copy."""
    return torch.as_tensor(array).float().div_(255.0).permute(3, 0, 1, 2).contiguous()


def clips(count=3, shape=(4, 6, 5, 3), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(count)]


def sample(index, rgb):
    return {"rgb": rgb, "label": index, "meta": {}, "index": index}


def test_rgb_batch_is_bit_identical_to_per_sample_conversion():
    arrays = clips()
    arrays[1][0, 0, 0] = [0, 255, 128]  # both ends of the range
    batch = Collator({"rgb": rgb_to_tensor})([sample(i, a) for i, a in enumerate(arrays)])
    expected = torch.stack([reference_rgb(a) for a in arrays])
    assert batch["rgb"].dtype == torch.float32 and batch["rgb"].is_contiguous()
    assert torch.equal(batch["rgb"], expected)
    assert batch["mask"]["rgb"].tolist() == [True, True, True]
    assert torch.equal(rgb_to_tensor(arrays[0]), expected[0])  # the single-sample path (predict) as well


def test_rgb_fast_path_declines_what_it_does_not_take():
    arrays = clips(2)
    normalised = (arrays[1].astype(np.float32) - 100) / 50  # video.normalize output: float, taken as is
    assert stack_rgb([arrays[0], normalised], torch.empty) is None
    assert stack_rgb([arrays[0], clips(1, (4, 6, 6, 3))[0]], torch.empty) is None
    batch = Collator({"rgb": rgb_to_tensor})([sample(0, arrays[0]), sample(1, normalised)])
    assert torch.equal(batch["rgb"][0], reference_rgb(arrays[0]))
    assert torch.equal(batch["rgb"][1], torch.from_numpy(normalised).permute(3, 0, 1, 2))
    # a sample without rgb: the per-sample path fills zeros and masks it
    batch = Collator({"rgb": rgb_to_tensor})([sample(0, arrays[0]), {"label": 1, "meta": {}, "index": 1}])
    assert batch["mask"]["rgb"].tolist() == [True, False] and not batch["rgb"][1].any()


def test_batches_are_allocated_in_shared_memory_inside_a_worker(monkeypatch):
    arrays = clips(2)
    skeleton = [np.full((1, 4, 5, 3), i, np.float32) for i in range(2)]
    samples = [{"rgb": a, "skeleton": s, "label": i, "meta": {}, "index": i}
               for i, (a, s) in enumerate(zip(arrays, skeleton))]
    collate = Collator({"rgb": rgb_to_tensor, "skeleton": skeleton_to_tensor})
    in_main = collate(samples)
    assert not in_main["rgb"].is_shared() and not in_main["skeleton"].is_shared()
    monkeypatch.setattr(collate_module, "get_worker_info", lambda: object())  # as inside a DataLoader worker
    in_worker = collate(samples)
    assert in_worker["rgb"].is_shared() and in_worker["skeleton"].is_shared()
    assert torch.equal(in_worker["rgb"], in_main["rgb"]) and torch.equal(in_worker["skeleton"], in_main["skeleton"])


def test_importing_fusion_enables_huge_pages_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    importlib.reload(fusion)  # runs fusion/__init__.py again (its submodules stay imported)
    assert os.environ["THP_MEM_ALLOC_ENABLE"] == "1"
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")
    importlib.reload(fusion)
    assert os.environ["THP_MEM_ALLOC_ENABLE"] == "0"
