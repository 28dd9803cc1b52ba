"""FineTec invariants."""

import numpy as np
import torch

from fusion_plugins.skeleton.layouts import get_layout
from fusion_plugins.skeleton_methods.finetec import FineTec, FineTecObjective, LagrangianAcceleration, semantic_regions


def test_regions_partition_the_joints():
    for layout in ("coco17", "ntu25"):
        regions = semantic_regions(get_layout(layout))
        flat = np.concatenate(regions)
        assert len(regions) == 5 and sorted(flat.tolist()) == list(range(get_layout(layout).num_joints))


def test_mass_matrix_is_spd_and_zero_force_gives_zero_acceleration():
    physics = LagrangianAcceleration(dof=6, width=8)
    mass = physics.mass_matrix(torch.randn(4, 6))
    assert torch.allclose(mass, mass.transpose(-1, -2))
    assert torch.all(torch.linalg.eigvalsh(mass) > 0)
    force = torch.zeros(4, 6)
    assert torch.all(physics.solve(torch.eye(6).expand(4, 6, 6), force) == 0)  # M = I
    for layer in physics.force:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.zeros_(layer.weight), torch.nn.init.zeros_(layer.bias)
    assert torch.all(physics(torch.randn(2, 5, 6)) == 0)


def test_completion_shapes_perturbation_and_training_step():
    model = FineTec("coco17", in_channels=3, coords=2, frames=16, num_persons=1, width=16, blocks=1, physics_width=16)
    clean = torch.randn(4, 3, 16, 17, 1)
    model.remember(clean)
    seq = model.sequences(clean)
    dyna, stat, dynamic = model.perturb(seq)  # training mode: jitter on disjoint joint sets
    assert dynamic.sum(1).tolist() == [int(sum(len(model.regions[r]) for r in range(5)
                                                if dynamic[i, model.regions[r][0]])) for i in range(4)]
    assert torch.all((dyna != seq).any(1).any(-1) == dynamic) and torch.all((stat != seq).any(1).any(-1) == ~dynamic)
    objective = FineTecObjective(ratios=[0.75])
    corrupted = objective.corrupt(clean)
    assert ((corrupted == 0).flatten(1, 1).all(1).all(-1).all(-1).sum(1) == 12).all()  # floor(0.75 * 16) frames
    features = model(corrupted)
    assert features.aux["completion"].shape == (4, 16, 17, 2)
    observed = ~features.aux["missing"]
    assert torch.equal(features.aux["completion"][observed], model.sequences(corrupted)[observed])
    assert features.pooled.shape == (4, model.out_dim)


def test_interpolation_fills_missing_frames_linearly_and_holds_the_ends():
    from fusion_plugins.skeleton_methods.finetec import interpolate_missing

    values = torch.arange(6.0).view(1, 6, 1, 1)
    missing = torch.tensor([[True, False, True, True, False, True]])
    filled = interpolate_missing(values * (~missing).view(1, 6, 1, 1), missing)
    assert filled.flatten().tolist() == [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    nothing = torch.ones(1, 6, dtype=torch.bool)
    assert torch.equal(interpolate_missing(torch.zeros(1, 6, 1, 1), nothing), torch.zeros(1, 6, 1, 1))


def test_prompt_rule_is_the_same_in_training_and_evaluation():
    """The prompt is the bank entry nearest on observed frames, whatever the mode (no train/test mismatch)."""
    model = FineTec("coco17", in_channels=3, coords=2, frames=8, width=8, blocks=1, physics_width=8)
    bank = torch.randn(5, 3, 8, 17, 1)
    model.remember(bank)
    query = model.sequences(bank[[3, 1]]) + 0.01
    missing = torch.zeros(2, 8, dtype=torch.bool)
    missing[:, 2:6] = True
    query = query.masked_fill(missing[..., None, None], 0.0)
    prompts = []
    for train in (True, False):
        model.train(train)
        prompts.append(model.context(query, missing))
    assert torch.equal(prompts[0], prompts[1])
    assert torch.equal(prompts[0], model.sequences(bank[[3, 1]]))
