"""FineTec invariants (skeleton-supervised.md 4.5)."""

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
