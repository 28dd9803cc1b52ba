"""MS-CLR: derived conventions, padding that never touches real joints, cross-convention objective, ensemble."""

import pytest
import torch
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.mixers.concat import ConcatMixer
from fusion.model import FusionModel
from fusion.types import Features
from fusion_plugins.skeleton.layouts import get_layout
from fusion_plugins.ssl.conventions import get_convention, pad_joints, unified_partition
from fusion_plugins.ssl.msclr import MSCLR, ConventionEnsemble, attention_guided_drop, stgcn_multiskeleton

TINY = dict(config="small", channels=[8, 16], strides=[1, 2], dropout=0.0)


def test_conventions_are_linear_maps_of_ntu_joints():
    ntu = get_layout("ntu25")
    kinect = get_convention("kinect20")
    assert kinect.mixing.shape == (20, 25)
    torch.testing.assert_close(torch.from_numpy(kinect.mixing.sum(1)), torch.ones(20))
    assert kinect.mixing[kinect.layout.index("hip_center"), ntu.index("spine_base")] == 1.0
    smpl = get_convention("smpl24")
    assert smpl.mixing[smpl.layout.index("spine3"), ntu.index("spine_shoulder")] == 0.5
    with pytest.raises(RecipeError, match="kinect20"):
        get_convention("kinect2O")


def test_unified_partition_has_zero_rows_and_columns_for_padded_joints():
    a = unified_partition(get_convention("kinect20"), 25)
    assert a.shape == (3, 25, 25)
    assert a[:, 20:].abs().sum() == 0 and a[:, :, 20:].abs().sum() == 0
    assert a[:, :20, :20].sum() > 0
    x = torch.randn(2, 3, 4, 20, 1)
    padded = pad_joints(x, 25)
    assert torch.equal(padded[..., :20, :], x) and padded[..., 20:, :].abs().sum() == 0


def test_perturbing_padded_joints_changes_no_real_activation_nor_the_embedding():
    torch.manual_seed(0)
    encoder = stgcn_multiskeleton(conventions=["ntu25", "kinect20"], **TINY).eval()
    x = encoder.unify(torch.randn(2, 3, 8, 25, 1), "kinect20")
    assert x[..., 20:, :].abs().sum() == 0
    noisy = x.clone()
    noisy[..., 20:, :] = 5 * torch.randn_like(noisy[..., 20:, :])
    with torch.no_grad():
        clean_map, noisy_map = encoder.forward_map(x, "kinect20"), encoder.forward_map(noisy, "kinect20")
        clean, perturbed = encoder.features(x, "kinect20"), encoder.features(noisy, "kinect20")
    torch.testing.assert_close(clean_map[..., :20], noisy_map[..., :20])
    torch.testing.assert_close(clean.pooled, perturbed.pooled)
    assert clean.pooled.shape == encoder(torch.randn(2, 3, 8, 25, 1), convention="ntu25").pooled.shape


def test_unknown_convention_and_wrong_input_are_named():
    encoder = stgcn_multiskeleton(conventions=["ntu25"], **TINY)
    with pytest.raises(ContractError, match="smpl24"):
        encoder(torch.randn(1, 3, 8, 25, 1), convention="smpl24")
    with pytest.raises(ContractError, match="NTU-25"):
        encoder(torch.randn(1, 3, 8, 20, 1))


def test_attention_drop_keeps_padded_joints_zero_and_drops_the_salient_share():
    joints = torch.rand(2, 4, 3, 25)
    real = torch.arange(25) < 20
    out = attention_guided_drop(joints * real, real, keep_prob=0.7)
    assert out[..., 20:].abs().sum() == 0
    dropped = (out.abs().sum((1, 2)) == 0) & real
    assert dropped.sum(1).tolist() == [6, 6]  # round(20 · 0.3)


def test_objective_trains_across_conventions_and_ensemble_averages_per_convention_classifiers():
    torch.manual_seed(0)
    encoder = stgcn_multiskeleton(**TINY)
    mixer = ConcatMixer({"skeleton": encoder.out_dim}, 3, {})
    model = FusionModel({"skeleton": encoder}, mixer, nn.Linear(mixer.out_dim, 3))
    objective = MSCLR(encoder_dim=16, feature_dim=8, queue_size=16, mining_epoch=1)
    objective.param_groups(model, 1e-4)
    batch = {"skeleton": torch.randn(4, 3, 8, 25, 3)}
    drawn = set()
    for epoch in range(2):
        objective.on_epoch_start(model, epoch)
        for step in range(4):
            loss, out = objective(model, batch)
            loss.backward()
            objective.on_step_end(model, 4 * epoch + step + 1)
            drawn.add(float(out["logs"]["same_convention"]))
    assert torch.isfinite(loss) and drawn == {0.0, 1.0}

    ensemble = ConventionEnsemble({"skeleton": 16}, 3, {}, conventions=["ntu25", "smpl24"])
    per = {"ntu25": torch.randn(2, 16), "smpl24": torch.randn(2, 16)}
    out = ensemble({"skeleton": Features(pooled=per["ntu25"], aux={"per_convention": per})}, {})
    expected = (ensemble.classifiers["ntu25"](per["ntu25"]) + ensemble.classifiers["smpl24"](per["smpl24"])) / 2
    torch.testing.assert_close(out.logits, expected)
    with pytest.raises(ContractError, match="ensemble: true"):
        ensemble({"skeleton": Features(pooled=per["ntu25"])}, {})
