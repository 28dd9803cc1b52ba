"""Hyper-GCN invariants."""

import torch

from fusion_plugins.skeleton_methods.hypergcn import divergence_loss, hyperedge_incidence, hypergcn, row_normalise
from fusion_plugins.skeleton_methods.transforms import HyperGCNStream


def test_incidence_rows_have_k_nonzeros_summing_to_one():
    h = hyperedge_incidence(torch.randn(2, 8, 28, 4), k=9)
    assert torch.all((h > 0).sum(-1) == 9)
    assert torch.allclose(h.sum(-1), torch.ones(2, 8, 28))
    assert torch.all(torch.diagonal(h, dim1=-2, dim2=-1) > 0)  # each vertex is in its own hyper-edge


def test_static_graph_rows_sum_to_one_and_virtual_joints_dropped():
    model = hypergcn(config="small", num_persons=2)
    gcn = model.blocks[0].gcn
    a_s = row_normalise(gcn.edge_importance * gcn.PA)
    assert gcn.PA.shape == (8, 28, 28) and not gcn.PA.requires_grad
    assert torch.allclose(a_s.sum(-1), torch.ones(8, 28))
    features = model(torch.randn(2, 3, 16, 25, 2))
    assert features.joints.shape == (2, 64, 4, 25)  # V = 25: the 3 virtual joints are gone
    assert features.pooled.shape == (2, 64)
    assert len(features.aux["virtual_joints"]) == 3


def test_divergence_loss_one_at_official_init_zero_for_orthogonal():
    model = hypergcn(config="small", num_persons=1)
    assert torch.isclose(divergence_loss(model.virtual_embeddings()), torch.tensor(1.0))
    assert torch.isclose(divergence_loss([torch.eye(3) * 2.5]), torch.tensor(0.0))
    out = model(torch.randn(2, 3, 16, 25, 1)).aux["losses"]["divergence"]
    assert torch.isclose(out, torch.tensor(1.0))


def test_divergence_reaches_the_objective_through_the_model_output():
    """``classify`` adds every ``aux['losses']`` term; the model lifts encoders' terms there as ``modality.name``."""
    from fusion.construct import context, create_mixer
    from fusion.model import FusionModel
    from fusion.registry import get_registry

    encoder = hypergcn(config="small", num_persons=1)
    mixer = create_mixer({"name": "concat"}, context(get_registry()), {"skeleton": encoder.out_dim}, 3, {})
    batch = {"skeleton": torch.randn(2, 3, 16, 25, 1), "mask": {"skeleton": torch.ones(2, dtype=torch.bool)}}
    losses = FusionModel({"skeleton": encoder}, mixer, None)(batch).aux["losses"]
    assert set(losses) == {"skeleton.divergence"} and torch.isclose(losses["skeleton.divergence"], torch.tensor(1.0))


def test_full_base_channel_table():
    model = hypergcn(config="base")
    widths = [block.gcn.hyper_joint.shape[1] for block in model.blocks]
    assert widths == [128, 128, 128, 128, 256, 256, 256, 256, 256]
    assert model.skips == {2, 5, 8}


def test_root_relative_joint_stream_keeps_absolute_root():
    x = torch.randn(1, 4, 25, 3).numpy()
    out = HyperGCNStream("joint")(dict(skeleton=x), None)["skeleton"]
    assert (abs(out[:, :, 20] - x[:, :, 20]) < 1e-6).all()
    assert (abs(out[:, :, 3] - (x[:, :, 3] - x[:, :, 20])) < 1e-6).all()
    bones = HyperGCNStream("bone")(dict(skeleton=x), None)["skeleton"]
    assert (abs(bones[:, :, 20] - x[:, :, 20]) < 1e-6).all()
    assert (abs(bones[:, :, 21] - (x[:, :, 21] - x[:, :, 7])) < 1e-6).all()  # hand tip hangs on the hand (B)
