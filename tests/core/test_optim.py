"""Optimiser parameter groups: the default weight-decay exclusions and the official codes' decay-all rule."""

import math

import pytest
import torch
from torch import nn

from fusion.errors import RecipeError
from fusion.train.build import TrainModule
from fusion.train.optim import build_optimizer

SGD = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}


def decays(optimizer) -> dict[int, float]:
    return {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}


def test_default_skips_biases_and_norms_decay_all_decays_everything():
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    default = decays(build_optimizer(net, SGD))
    assert default[id(net[0].weight)] == 5e-4 and default[id(net[0].bias)] == 0.0 and default[id(net[1].weight)] == 0.0
    every = decays(build_optimizer(net, {**SGD, "decay_all": True}))
    assert set(every) == {id(p) for p in net.parameters()} and set(every.values()) == {5e-4}


def test_decay_all_with_an_objective_that_owns_its_groups_is_a_recipe_error():
    class OwnGroups(nn.Module):
        def param_groups(self, model, weight_decay):
            return [{"params": list(model.parameters()), "weight_decay": 0.0}]

    module = TrainModule(nn.Linear(2, 2), OwnGroups())
    with pytest.raises(RecipeError, match="decay_all.*OwnGroups"):
        build_optimizer(module, {**SGD, "decay_all": True})
    assert isinstance(build_optimizer(module, SGD), torch.optim.SGD)


def test_drop_last_drops_the_partial_training_batch_only(toy_recipe):
    from fusion.recipe import from_dict
    from fusion.train.build import build_all, build_loader

    toy_recipe["train"].update(batch_size=10, drop_last=True)
    recipe = from_dict(toy_recipe)
    built = build_all(recipe)
    n_train, n_test = len(built.train_set), len(built.test_set)
    assert n_train % 10 and n_test % 10  # both splits end in a partial batch
    assert len(build_loader(recipe, built.train_set, built.collator, True, 10)) == n_train // 10
    assert len(build_loader(recipe, built.test_set, built.collator, False, 10)) == -(-n_test // 10)


def test_multi_clip_eval_averages_softmax_over_differently_seeded_passes(toy_recipe, tmp_path):
    """eval.clips: N runs the test set N times (transform seed = clip) and averages the probabilities."""
    import numpy as np

    from fusion.errors import RecipeError
    from fusion.recipe import from_dict
    from fusion.train.accel import make_accelerator
    from fusion.train.build import build_all, build_loader
    from fusion.train.evaluate import evaluate, predict

    recipe = from_dict(toy_recipe)
    built = build_all(recipe)
    seen = []

    def noisy(sample, rng):  # a random test transform: each pass sees other noise
        value = rng.normal()
        seen.append(value)
        return {**sample, "skeleton": sample["skeleton"] + np.float32(value)}

    built.test_set.transforms.append(noisy)
    model = built.module.model
    accelerator = make_accelerator("no")
    loader = build_loader(recipe, built.test_set, built.collator, False, 16)
    n = len(built.test_set)
    single = []
    for clip in range(3):
        built.test_set.set_epoch(clip)
        scores, _, indices = predict(accelerator, model, loader)
        single.append(scores[indices.argsort()].softmax(-1))
    built.test_set.set_epoch(0)
    report, predictions = evaluate(accelerator, model, loader, built.num_classes, clips=3)
    assert np.allclose(predictions["scores"], torch.stack(single).mean(0).numpy(), atol=1e-6)
    assert report["count"] == n and len(set(np.round(seen, 6))) > n  # the passes differed
    assert built.test_set.epoch == 0
    with pytest.raises(RecipeError, match="eval.clips"):
        from_dict({**toy_recipe, "eval": {"clips": 0}})


def test_plateau_multiplier_follows_reduce_lr_on_plateau():
    from fusion.train.optim import Plateau

    plateau = Plateau(factor=0.5, patience=2)
    scales = []
    for value in [1.0, 0.9, 0.9, 0.95, 0.91, 0.8, 0.85, 0.85, 0.85, 0.85]:
        plateau.step(value)
        scales.append(plateau.scale)
    # improvements reset the count; the third evaluation in a row without one halves the lr
    assert scales == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    again = Plateau(0.5, 2)
    again.load_state_dict(plateau.state_dict())
    assert (again.scale, again.best, again.bad) == (plateau.scale, plateau.best, plateau.bad)


def test_plateau_schedule_is_stepped_on_the_validation_loss_and_survives_resume(toy_recipe, tmp_path):
    import json

    from fusion.recipe import from_dict
    from fusion.train.trainer import Trainer

    toy_recipe["train"].update(epochs=3, optimizer={"name": "sgd", "lr": 1e-7},
                               schedule={"name": "plateau", "factor": 0.5, "patience": 0})
    Trainer(from_dict(toy_recipe), tmp_path / "run", progress=False).fit()
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [e for e in epochs if e.get("event") == "epoch"]
    assert [e["lr_scale"] for e in epochs] == [1.0, 0.5, 0.25]  # a 1e-7 lr cannot improve the loss by 1e-4
    assert all(e["val_loss"] > 0 and "test_loss" not in e for e in epochs)  # model selection never sees test
    toy_recipe["train"]["epochs"] = 4
    Trainer(from_dict(toy_recipe), tmp_path / "run", progress=False, resume=True).fit()
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["lr_scale"] for e in epochs if e.get("event") == "epoch"][-1] == 0.125


def test_per_epoch_schedules_hold_the_lr_for_an_epoch_like_the_official_codes():
    from fusion.train.optim import build_schedule

    def lrs(cfg, steps_per_epoch=4, epochs=10):
        optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
        schedule = build_schedule(optimizer, cfg, steps_per_epoch, epochs, 0.1)
        out = []
        for _ in range(steps_per_epoch * epochs):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return out

    warm = lrs({"name": "step", "warmup_epochs": 5, "milestones": [8], "gamma": 0.1, "per_epoch": True})
    per_epoch = [warm[4 * e] for e in range(10)]
    assert all(warm[4 * e: 4 * e + 4] == [per_epoch[e]] * 4 for e in range(10))  # constant within an epoch
    assert per_epoch == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01])  # CTR-GCN: lr(e+1)/5
    cosine = lrs({"name": "cosine", "min_lr": 1e-6, "per_epoch": True}, epochs=4)
    expected = [1e-6 + (0.1 - 1e-6) * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]  # CosineAnnealingLR
    assert [cosine[4 * e] for e in range(4)] == pytest.approx(expected)
