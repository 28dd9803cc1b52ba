import numpy as np
import pytest
import torch

from fusion.data import Collator
from fusion.errors import ContractError
from fusion.mixers.attention_gate import AttentionGateMixer
from fusion.mixers.concat import ConcatMixer
from fusion.mixers.late import LateMixer
from fusion.mixers.sum import SumMixer
from fusion.model import build_model
from fusion.recipe import from_dict
from fusion.registry import build_registry, get_registry
from fusion.types import Features, MixerSpec
from fusion_plugins.skeleton.modality import skeleton_to_tensor


def sample(index, with_pose=True):
    s = {"skeleton": np.full((1, 4, 5, 3), index, np.float32), "label": index % 2, "meta": {}, "index": index}
    if with_pose:
        s["pose2d"] = np.ones((1, 4, 5, 3), np.float32)
    return s


def test_collate_masks_and_zero_fills_missing_modality():
    collate = Collator({"skeleton": skeleton_to_tensor, "pose2d": skeleton_to_tensor})
    batch = collate([sample(0), sample(1, with_pose=False), None, sample(2)])
    assert batch["skeleton"].shape == (3, 3, 4, 5, 1)
    assert batch["mask"]["pose2d"].tolist() == [True, False, True]
    assert batch["mask"]["skeleton"].tolist() == [True, True, True]
    assert batch["pose2d"][1].abs().sum() == 0 and batch["pose2d"][0].abs().sum() > 0
    assert batch["skipped"] == 1
    assert batch["label"].tolist() == [0, 1, 0] and batch["index"].tolist() == [0, 1, 2]


def test_collate_uses_known_shape_when_whole_batch_lacks_modality():
    collate = Collator({"skeleton": skeleton_to_tensor, "pose2d": skeleton_to_tensor}, {"pose2d": (3, 4, 5, 1)})
    batch = collate([sample(0, with_pose=False)])
    assert batch["pose2d"].shape == (1, 3, 4, 5, 1) and not batch["mask"]["pose2d"].any()


def test_collate_rejects_ragged_shapes():
    collate = Collator({"skeleton": skeleton_to_tensor})
    other = sample(1)
    other["skeleton"] = np.zeros((1, 6, 5, 3), np.float32)
    with pytest.raises(ContractError, match="modality 'skeleton' has per-sample shapes"):
        collate([sample(0), other])


def two_modality_features(batch=4):
    torch.manual_seed(0)
    return {"a": Features(pooled=torch.randn(batch, 6)), "b": Features(pooled=torch.randn(batch, 3))}


@pytest.mark.parametrize("mixer_cls", [ConcatMixer, SumMixer, LateMixer, AttentionGateMixer])
def test_baseline_mixers_ignore_masked_modality(mixer_cls):
    mixer = mixer_cls(dims={"a": 6, "b": 3}, num_classes=5, roles={})
    features = two_modality_features()
    masks = {"a": torch.tensor([True, True, False, True]), "b": torch.tensor([True, False, True, True])}
    out1 = mixer(features, masks)
    changed = {"a": features["a"], "b": Features(pooled=features["b"].pooled + 100 * (~masks["b"])[:, None])}
    out2 = mixer(changed, masks)
    value1 = out1.logits if out1.fused is None else out1.fused
    value2 = out2.logits if out2.fused is None else out2.fused
    assert torch.isfinite(value1).all()
    torch.testing.assert_close(value1, value2)


def test_late_fusion_is_weighted_mean_of_present_logits():
    mixer = LateMixer(dims={"a": 6, "b": 3}, num_classes=5, roles={}, weights={"a": 2.0, "b": 1.0})
    features = two_modality_features(2)
    masks = {"a": torch.tensor([True, True]), "b": torch.tensor([True, False])}
    out = mixer(features, masks)
    za, zb = mixer.classifiers["a"](features["a"].pooled), mixer.classifiers["b"](features["b"].pooled)
    torch.testing.assert_close(out.logits[0], (2 * za[0] + zb[0]) / 3)
    torch.testing.assert_close(out.logits[1], za[1])


def test_mixer_need_missing_is_named_before_training(tmp_path, monkeypatch, toy_recipe):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "needy_plugin.py").write_text(
        "from fusion import MixerSpec, hookimpl\n"
        "from fusion.mixers.concat import ConcatMixer\n"
        "@hookimpl\n"
        "def fusion_add_mixers():\n"
        "    return [MixerSpec(name='needy', factory=ConcatMixer, needs={'pose': frozenset({'joints'})})]\n"
    )
    registry = build_registry(["toy_plugin", "needy_plugin"])
    toy_recipe["model"]["mixer"] = {"name": "needy", "roles": {"pose": "skeleton"}}
    recipe = from_dict(toy_recipe, registry)
    with pytest.raises(ContractError) as err:
        build_model(recipe, registry, num_classes=4)
    message = str(err.value)
    assert "mixer 'needy' needs 'joints'" in message and "role 'pose'" in message
    assert "encoder 'toy_mlp' provides only frames, pooled" in message
    assert "encoders that provide 'joints' for skeleton" in message


def test_mixer_role_mapped_to_absent_modality(toy_recipe):
    registry = get_registry(["toy_plugin"])
    spec = MixerSpec(name="x", factory=ConcatMixer, needs={"video": frozenset({"volume"})})
    registry.specs["mixer"]["x_video"] = spec
    try:
        toy_recipe["model"]["mixer"] = {"name": "x_video"}
        with pytest.raises(ContractError, match="needs role 'video', mapped to modality 'video'"):
            build_model(from_dict(toy_recipe, registry), registry, num_classes=4)
    finally:
        del registry.specs["mixer"]["x_video"]


def test_model_forward_gives_logits(toy_recipe):
    registry = get_registry(["toy_plugin"])
    model = build_model(from_dict(toy_recipe, registry), registry, num_classes=4)
    collate = Collator({"skeleton": skeleton_to_tensor})
    batch = collate([{"skeleton": np.zeros((1, 8, 5, 3), np.float32), "label": 0, "meta": {}, "index": 0}])
    out = model(batch)
    assert out.logits.shape == (1, 4) and out.fused.shape == (1, 16)


def test_branch_cross_entropy_ignores_samples_missing_that_modality():
    import torch.nn.functional as F

    from fusion.objectives.classify import Classify
    from fusion.types import ModelOutput

    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [5.0, 0.0]])
    branch = torch.tensor([[0.0, 1.0], [9.0, -9.0], [1.0, 0.0]])
    label = torch.tensor([0, 1, 0])
    batch = {"label": label, "mask": {"rgb": torch.tensor([True, False, True])}}

    def model(_):
        return ModelOutput(logits=logits, fused=None, features={}, aux={"logits_per_modality": {"rgb": branch}})

    loss, out = Classify(branch_weight=0.5)(model, batch)
    expected_branch = F.cross_entropy(branch[[0, 2]], label[[0, 2]])  # sample 1 has no rgb
    assert torch.allclose(out["logs"]["ce_rgb"], expected_branch)
    assert torch.allclose(loss, F.cross_entropy(logits, label) + 0.5 * expected_branch)
