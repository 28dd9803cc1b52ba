"""BRL invariants."""

import numpy as np
import pytest
import torch

from fusion.errors import RecipeError
from fusion_plugins.skeleton.layouts import get_layout
from fusion_plugins.skeleton_methods.brl import (
    BRLStream,
    LongTailed,
    TemporalReverse,
    action_aware_weights,
    long_tailed_counts,
    long_tailed_indices,
    lower_body,
    mix_weight,
    ordered_counts,
    partial_mixup,
    stage_weights,
)


def test_counts_follow_the_profile():
    # floor(20 * 0.1^(2/9)) = floor(11.99) = 11 (rounding would give 12, but floor is the formula that reproduces
    # every shipped list); NW-UCLA-LT is the shipped 403-sample list
    assert long_tailed_counts(10, 20, 10).tolist() == [20, 15, 11, 9, 7, 5, 4, 3, 2, 2]
    assert long_tailed_counts(10, 100, 10).tolist() == [100, 77, 59, 46, 35, 27, 21, 16, 12, 10]
    for c, n_max, rho, total in ((60, 600, 100, 7892), (120, 600, 100, 15600), (120, 400, 100, 10378), (60, 600, 10, 14142)):
        counts = long_tailed_counts(c, n_max, rho)
        assert counts.sum() == total and counts.max() / counts.min() == rho


@pytest.mark.slow  # loads SynthAct (about 10 s on a busy machine)
def test_long_tailed_synthact_split_is_reproducible():
    spec = {"name": "synthact", "args": {"modalities": ["skeleton"], "frames": 16}}
    from fusion.construct import build, context
    from fusion.registry import get_registry

    first = build("dataset", {"name": "long_tailed", "args": {"dataset": spec, "rho": 10}}, context(get_registry()),
                  split="train")
    assert isinstance(first, LongTailed)
    sizes = np.bincount(first.labels, minlength=12)
    head = int(np.bincount(first.base.labels).max())  # the head class keeps every training sample
    assert sizes.tolist() == first.counts.tolist() == long_tailed_counts(12, head, 10).tolist()
    assert sizes.max() == head and 10 <= sizes.max() / sizes.min() < 10 * 1.5  # floor rounding of the tail
    assert np.array_equal(first.indices, long_tailed_indices(first.base.labels, first.counts, seed=0))
    assert not np.array_equal(first.indices, long_tailed_indices(first.base.labels, first.counts, seed=1))


def test_three_times_rule():
    assert mix_weight(100, 10) == 0.0 and mix_weight(10, 100) == 1.0 and mix_weight(30, 20) == 0.64


def test_partial_mixup_keeps_upper_from_i_and_lower_from_j():
    lower = torch.as_tensor(lower_body(get_layout("ntu25_b")))
    assert lower.tolist() == [0, 12, 13, 14, 15, 16, 17, 18, 19]
    x = torch.arange(8.0).view(8, 1, 1, 1, 1).expand(8, 3, 4, 25, 1).clone()
    labels = torch.arange(8)
    counts = torch.tensor([100, 100, 30, 30, 30, 5, 5, 5])
    mixed, y_a, y_b, lam = partial_mixup(x, labels, counts, lower, ratio=0.5, generator=torch.Generator().manual_seed(0))
    changed = (y_a != y_b).nonzero().flatten()
    assert len(changed) == 4
    upper = [j for j in range(25) if j not in lower.tolist()]
    for i in changed.tolist():
        assert torch.all(mixed[i][:, :, upper] == i) and torch.all(mixed[i][:, :, lower] == y_b[i].item())
        expected = mix_weight(int(counts[i]), int(counts[y_b[i]]))
        assert lam[i].item() == pytest.approx(expected) and expected in (0.0, 0.64, 1.0)
    assert torch.all(lam[y_a == y_b] == 1.0)


def test_stage_weights():
    counts = long_tailed_counts(60, 600, 100)
    assert np.all(stage_weights(counts, 18, 20) == 1.0)
    w = stage_weights(counts, 19, 20)
    assert w.sum() == pytest.approx(60) and np.all(np.diff(w) >= 0)  # counts decrease with c, weights grow
    assert w[0] == pytest.approx(0.0410, abs=5e-4) and w[-1] == pytest.approx(4.0757, abs=5e-3)
    np.testing.assert_allclose(stage_weights(counts, 21, 20), w)
    flipped = stage_weights(counts, 20, 20, alternating=True)
    assert flipped.max() / flipped.min() < 1.05  # the official code's near-uniform epochs
    np.testing.assert_allclose(stage_weights(counts, 21, 20, alternating=True), w)
    assert action_aware_weights([5, 5]).tolist() == [1.0, 1.0]


def test_skip_bone_and_temporal_reverse():
    x = np.random.default_rng(0).normal(size=(1, 6, 25, 3)).astype(np.float32)
    k = BRLStream("k")({"skeleton": x}, None)["skeleton"]
    assert not k[:, :, [1, 2, 4, 8, 20]].any()
    assert np.allclose(k[:, :, 0], x[:, :, 0] - x[:, :, 20]) and np.allclose(k[:, :, 21], x[:, :, 21] - x[:, :, 7])
    six = BRLStream(["j", "b", "k", "jm", "bm", "km"])({"skeleton": x}, None)["skeleton"]
    assert six.shape == (1, 6, 25, 18)
    padded = np.concatenate([x, np.zeros_like(x[:, :2])], axis=1)
    flipped = TemporalReverse(p=1.0)({"skeleton": padded}, np.random.default_rng(0))["skeleton"]
    assert np.array_equal(flipped[:, :6], x[:, ::-1]) and not flipped[:, 6:].any()
    # a frame the sensor dropped inside the clip is reversed with the rest, not mistaken for padding
    dropped = padded.copy()
    dropped[:, 2] = 0
    flipped = TemporalReverse(p=1.0)({"skeleton": dropped}, np.random.default_rng(0))["skeleton"]
    assert np.array_equal(flipped[:, :6], dropped[:, :6][:, ::-1]) and not flipped[:, 3].any()


def test_class_order_hands_the_profile_out():
    profile = long_tailed_counts(4, 8, 4).tolist()  # [8, 5, 3, 2]
    assert ordered_counts(4, 8, 4).tolist() == profile
    assert ordered_counts(4, 8, 4, "reversed").tolist() == profile[::-1]
    assert ordered_counts(4, 8, 4, [2, 0, 3, 1]).tolist() == [5, 2, 8, 3]
    for bad in ([0, 0, 1, 2], "shuffled", [0, 1, 2]):
        with pytest.raises(RecipeError, match="class_order"):
            ordered_counts(4, 8, 4, bad)


def test_tail_report_groups_classes_by_training_count():
    from fusion_plugins.skeleton_methods.tail_report import group_accuracy

    per_class = np.array([1.0, 0.0, 0.9, 0.5, 1.0, 0.2])
    counts = np.array([30, 3, 19, 16, 24, 3])  # head: 0, 4; medium: 2, 3; tail: 1, 5
    g = group_accuracy(per_class, counts)
    assert g == pytest.approx({"head": 1.0, "medium": 0.7, "tail": 0.1, "all": 3.6 / 6})
