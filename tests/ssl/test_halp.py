"""HaLP: boundary geometry, hardness, rank filter, loss form, warm-up, prototypes, BiGRU size."""

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fusion.mixers.concat import ConcatMixer
from fusion.model import FusionModel
from fusion_plugins.ssl.halp import (
    HaLP,
    bigru,
    boundary_step,
    hallucinate_positives,
    halp_loss,
    slerp,
)


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def anchors_near_first_prototype(prototypes, n=64, seed=1):
    """Anchors whose nearest prototype is prototype 0."""
    a = F.normalize(prototypes[0] + 0.6 * unit(n, prototypes.shape[1], seed=seed), dim=1)
    return a[(a @ prototypes.t()).argmax(1) == 0]


def test_boundary_step_is_equidistant_and_earlier_points_stay_closer_to_p0():
    prototypes = unit(5, 8)
    k = anchors_near_first_prototype(prototypes)
    p0, p = prototypes[0].expand_as(k), prototypes[3].expand_as(k)
    t_max = boundary_step(k, p, p0)
    g = slerp(k, p, t_max)
    torch.testing.assert_close(g.norm(dim=1), torch.ones(len(k)))
    assert ((g * p0).sum(1) - (g * p).sum(1)).abs().max() < 1e-4
    inside = slerp(k, p, 0.7 * t_max)
    assert torch.all((inside * p0).sum(1) > (inside * p).sum(1))
    assert torch.all((t_max > 0) & (t_max <= 1 + 1e-5))


def test_hardness_controls_the_step_and_outputs_are_unit_vectors():
    prototypes = unit(6, 8)
    k = anchors_near_first_prototype(prototypes)
    g = torch.Generator().manual_seed(0)
    made = hallucinate_positives(k, prototypes, count=10, hardness=0.3, generator=g)
    torch.testing.assert_close(made.points.norm(dim=-1), torch.ones(len(k), 10))
    assert torch.all(made.t <= made.t_max + 1e-6) and torch.all(made.t >= 0.7 * made.t_max - 1e-6)
    assert torch.all(made.target != made.nearest[:, None])  # p0 is never a target
    near_zero = hallucinate_positives(k, prototypes, count=10, hardness=1e-6, generator=g)
    torch.testing.assert_close(near_zero.t, near_zero.t_max, atol=1e-5, rtol=0)
    hardest = hallucinate_positives(k, prototypes, count=10, hardness=1000, generator=g)
    torch.testing.assert_close(hardest.t, hardest.t_max - 0.01)


def test_rank_filter_matches_brute_force_nearest_prototype():
    prototypes, k = unit(4, 3, seed=2), unit(50, 3, seed=3)
    made = hallucinate_positives(k, prototypes, count=8, hardness=1000, generator=torch.Generator().manual_seed(1))
    brute = torch.stack([torch.stack([(prototypes @ g).argmax() for g in row]) for row in made.points])
    nearest = torch.stack([(prototypes @ a).argmax() for a in k])
    assert torch.equal(made.valid, brute == nearest[:, None])
    assert torch.equal(made.nearest, nearest)


def test_halp_loss_is_minus_mean_alignment_over_valid_pairs():
    q, g = unit(3, 4, seed=4), unit(3, 5, 4, seed=5)
    valid = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    scores = torch.einsum("nd,njd->nj", q, g)
    torch.testing.assert_close(halp_loss(q, g, valid, 0.07), -scores[valid].mean() / 0.07)


def test_no_halp_term_during_warmup_then_prototypes_are_unit_and_used():
    encoder = bigru(num_persons=1, config="small", hidden=8)
    mixer = ConcatMixer({"skeleton": encoder.out_dim}, 3, {})
    model = FusionModel({"skeleton": encoder}, mixer, nn.Linear(mixer.out_dim, 3))
    objective = HaLP(encoder_dim=16, feature_dim=8, queue_size=16, num_prototypes=4, prototype_keys=8,
                     num_positives=5, update_prototypes_every=1)
    assert objective.warmup_samples == 33
    objective.param_groups(model, 1e-4)
    batch = {"skeleton": torch.randn(8, 3, 6, 25, 2)}
    for step in range(1, 8):
        loss, out = objective(model, batch)
        # 33 samples are passed after step 5 (40 seen); prototypes are made then, HaLP starts at step 6
        assert ("halp" in out["logs"]) == (step >= 6)
        loss.backward()
        objective.on_step_end(model, step)
    torch.testing.assert_close(objective.prototypes.norm(dim=1), torch.ones(4))
    assert int(objective.queue.pointer) == (7 * 8) % 16
    assert HaLP().prototypes.shape == (20, 128)


def test_warmup_counts_samples_from_start_epoch_only():
    """One run = MoCo until ``start_epoch``, then HaLP after a fresh 2K+1-sample warm-up (the official restart)."""
    encoder = bigru(num_persons=1, config="small", hidden=8)
    mixer = ConcatMixer({"skeleton": encoder.out_dim}, 3, {})
    model = FusionModel({"skeleton": encoder}, mixer, nn.Linear(mixer.out_dim, 3))
    objective = HaLP(encoder_dim=16, feature_dim=8, queue_size=16, num_prototypes=4, prototype_keys=8,
                     num_positives=5, update_prototypes_every=1, start_epoch=2)
    objective.param_groups(model, 1e-4)
    batch = {"skeleton": torch.randn(8, 3, 6, 25, 2)}
    step = 0
    for epoch in range(3):
        objective.on_epoch_start(model, epoch)
        for _ in range(6 if epoch < 2 else 4):
            step += 1
            loss, out = objective(model, batch)
            assert "halp" not in out["logs"]  # MoCo epochs, then the restart's warm-up (33 samples > 4 x 8)
            loss.backward()
            objective.on_step_end(model, step)
    assert int(objective.seen) == 4 * 8


def test_bigru_paper_size_and_shapes():
    encoder = bigru()  # 3 layers × 1024, bidirectional, input 3·25·2 = 150
    gru = sum(3 * (1024 * i + 1024 * 1024 + 2 * 1024) * 2 for i in (150, 2048, 2048))
    assert sum(p.numel() for p in encoder.parameters()) == gru + 2 * 150
    small = bigru(config="small", num_persons=1)
    features = small(torch.randn(2, 3, 7, 25, 1))
    assert features.pooled.shape == (2, small.out_dim) and features.frames.shape == (2, 7, small.out_dim)
    assert math.isclose(float((features.pooled - features.frames[:, -1]).abs().max().detach()), 0.0)


def test_pretext_run_with_stacked_views_trains_and_probes(tmp_path):
    """Precise BN on a pretext-only run re-estimates statistics on what the encoder reads (the probe's bank),
    not on the training batches, whose two HaLP views are stacked on the person axis (M = 2 for a 1-person
    encoder): that crashed after the last epoch of ``recipes/synthact/ssl/halp_noisy.yaml``."""
    from fusion.recipe import load_recipe
    from fusion.train.trainer import Trainer

    recipe = load_recipe(Path(__file__).parents[2] / "recipes/synthact/ssl/halp_noisy.yaml",
                         ["train.epochs=2", "data.dataset.args.subjects=4", "data.dataset.args.repetitions=1"])
    summary = Trainer(recipe, tmp_path / "run", progress=False).fit()
    assert summary["best"]["selected_on"] == "val kNN probe"
    assert 0.0 <= summary["test"]["top1"] <= 1.0 and summary["pretext"]["train_loss"] > 0
