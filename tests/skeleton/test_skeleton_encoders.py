"""Skeleton encoders: Features of the small configs, and hand counts of the paper configurations."""

import pytest
import torch

from fusion.errors import ContractError
from fusion_plugins.skeleton.ctrgcn import ctrgcn
from fusion_plugins.skeleton.stgcn import stgcn
from fusion_plugins.skeleton.stgcnpp import stgcnpp
from fusion_plugins.skeleton.transformer import skeleton_transformer

V, C = 25, 3
PAPER_WIDTHS = [(3, 64, 1), (64, 64, 1), (64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1),
                (128, 256, 2), (256, 256, 1), (256, 256, 1)]


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def conv(cin, cout, k=1):
    return cin * cout * k + cout


def residual(i, cin, cout, stride):  # off in block 1; a 1x1 conv + BN when the shape changes
    return 0 if i == 0 or (cin == cout and stride == 1) else conv(cin, cout) + 2 * cout


def stgcn_count():
    total = 2 * V * C  # data BN (V*C)
    for i, (cin, cout, s) in enumerate(PAPER_WIDTHS):
        total += conv(cin, 3 * cout) + 2 * cout + conv(cout, cout, 9) + 2 * cout + residual(i, cin, cout, s)
        total += 3 * V * V  # edge importance
    return total


def ctrgcn_count(persons=2):
    total = 2 * persons * V * C
    for i, (cin, cout, s) in enumerate(PAPER_WIDTHS):
        rel = 8 if cin in (3, 9) else cin // 8
        ctrgc = 2 * conv(cin, rel) + conv(cin, cout) + conv(rel, cout)
        down = conv(cin, cout) + 2 * cout if cin != cout else 0
        gcn = 3 * ctrgc + 3 * V * V + 1 + 2 * cout + down
        b = cout // 4
        dilated = conv(cout, b) + 2 * b + conv(b, b, 5) + 2 * b
        tcn = 2 * dilated + (conv(cout, b) + 4 * b) + (conv(cout, b) + 2 * b)
        total += gcn + tcn + residual(i, cin, cout, s)
    return total


def stgcnpp_count():
    total = 2 * V * C
    for i, (cin, cout, s) in enumerate(PAPER_WIDTHS):
        down = conv(cin, cout) + 2 * cout if cin != cout else 0
        gcn = 3 * V * V + conv(cin, 3 * cout) + 2 * cout + down
        mid = cout // 6
        widths = [cout - 5 * mid] + [mid] * 5
        tcn = sum(conv(cout, w) + 2 * w + conv(w, w, 3) for w in widths[:4])
        tcn += conv(cout, widths[4]) + 2 * widths[4] + conv(cout, widths[5])
        tcn += 2 * cout + conv(cout, cout) + 2 * cout
        total += gcn + tcn + residual(i, cin, cout, s)
    return total


def mamp_count(d=256, depth=8, tokens_t=30):
    block = 2 * 2 * d + conv(d, 3 * d) + conv(d, d) + conv(d, 4 * d) + conv(4 * d, d)
    return conv(4 * C, d) + V * d + tokens_t * d + depth * block + 2 * d


def test_paper_configurations_match_hand_counts():
    assert trainable(stgcn()) == stgcn_count() == 3_083_412
    assert trainable(ctrgcn()) == ctrgcn_count() == 1_431_252
    assert trainable(stgcnpp()) == stgcnpp_count() == 1_387_724
    assert trainable(skeleton_transformer()) == mamp_count() == 6_336_000


def test_stgcnpp_branch_widths_give_the_remainder_to_the_first():
    tcn = stgcnpp().blocks[0].tcn
    widths = [branch[0].out_channels if isinstance(branch, torch.nn.Sequential) else branch.conv.out_channels
              for branch in tcn.branches]
    assert widths == [14, 10, 10, 10, 10, 10]


SMALL = {
    "stgcn": lambda: stgcn(config="small"),
    "ctrgcn": lambda: ctrgcn(config="small"),
    "stgcnpp": lambda: stgcnpp(layout="ntu25", config="small"),
    "skeleton_transformer": lambda: skeleton_transformer(config="small"),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_configs_provide_joint_frame_and_pooled_features(name):
    torch.manual_seed(0)
    model = SMALL[name]()
    x = torch.randn(2, C, 16, V, 2)
    features = model(x)
    assert features.provided() == {"pooled", "frames", "joints"}
    d = model.out_dim
    t = features.joints.shape[2]
    assert features.joints.shape == (2, d, t, V) and features.frames.shape == (2, t, d)
    assert t == 4  # small GCNs stride time by 4; the transformer has 4-frame tokens
    torch.testing.assert_close(features.pooled, features.joints.mean((2, 3)))
    features.pooled.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_wrong_input_names_the_expected_shape(name):
    model = SMALL[name]()
    with pytest.raises(ContractError, match=r"\(B, C, T, V, M\) = \(B, 3, T, 25"):
        model(torch.randn(2, 3, 16, 17, 2))


def test_ctrgcn_starts_from_the_spatial_graph():
    model = ctrgcn(config="small")
    unit = model.blocks[0].gcn
    assert unit.alpha.item() == 0 and torch.all(unit.bn.weight == 1e-6)
    torch.testing.assert_close(unit.PA.detach(), torch.from_numpy(model.layout.partition("spatial")))
    assert model.data_bn.bn.num_features == 2 * V * C  # separate statistics per person slot


def test_stgcn_edge_importance_multiplies_the_partition():
    model = stgcn(config="small")
    assert len(model.edge_importance) == 3 and all(torch.all(w == 1) for w in model.edge_importance)
    assert model.A.shape == (3, V, V)
    plain = stgcn(config="small", edge_importance=False)
    assert trainable(model) - trainable(plain) == 3 * 3 * V * V


def test_transformer_token_api_and_time_interpolation():
    model = skeleton_transformer(config="small").eval()
    x = torch.randn(2, C, 16, V, 1)
    seq = model.fold_persons(x)
    patches = model.patchify(seq)
    assert patches.shape == (2, 4, V, 4 * C)
    torch.testing.assert_close(patches[0, 1, 3, :C], seq[0, 4, 3])  # token (t=1, v=3) starts at frame 4
    tokens = model.embed(patches).flatten(1, 2)
    assert tokens.shape == (2, 4 * V, 32)
    keep = torch.arange(10).expand(2, -1)
    visible = tokens.gather(1, keep[..., None].expand(-1, -1, 32))
    assert model.forward_tokens(visible).shape == (2, 10, 32)
    assert model(torch.randn(1, C, 32, V, 1)).joints.shape == (1, 32, 8, V)  # 8 steps: interpolated embedding
    with pytest.raises(ContractError, match="multiple of the temporal patch 4"):
        model(torch.randn(1, C, 18, V, 1))


def test_joint_pooling_concatenates_time_averaged_joint_tokens():
    torch.manual_seed(0)
    mean_model = skeleton_transformer(config="small").eval()
    joint_model = skeleton_transformer(config="small", pool="joints").eval()
    joint_model.load_state_dict(mean_model.state_dict())
    x = torch.randn(2, C, 16, V, 2)
    joints, mean = joint_model(x), mean_model(x)
    d = mean_model.out_dim
    assert joint_model.out_dim == V * d and joints.pooled.shape == (2, V * d)
    per_joint = joints.pooled.reshape(2, V, d)  # joint-major: joint v is pooled[:, v*d:(v+1)*d]
    assert torch.allclose(per_joint[:, 3], joints.joints[:, :, :, 3].mean(2), atol=1e-6)
    assert torch.allclose(per_joint.mean(1), mean.pooled, atol=1e-6)


def test_unknown_pooling_is_a_recipe_error_naming_the_choices():
    with pytest.raises(Exception, match="pool='max'.*mean, joints"):
        skeleton_transformer(config="small", pool="max")
