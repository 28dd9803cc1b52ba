"""Every registered mixer: builds over encoders of given sizes, runs on exactly the Features fields its spec
declares it needs (nothing else is filled), puts in ``aux`` exactly the fields its spec declares (built with the
arguments in :data:`AUX_ARGS` where a field is filled only under one, ``AuxField.when``), and honours
masks: where a modality is masked out, changing that modality's features cannot change the output.

Features are random tensors of the documented layouts (:data:`fusion.types.FEATURE_FIELDS`); a mixer whose
default configuration needs other sizes declares them in :data:`SETUP`.
"""

import pytest
import torch

from fusion.construct import context, create_mixer
from fusion.registry import get_registry
from fusion.types import EVERY_MODALITY, Features, aux_names

REGISTRY = get_registry()
B, T, D = 4, 4, 16
#: Per mixer: recipe args (small sizes), the modality each role maps to, and feature sizes.
SETUP = {
    "deformable": {"args": {"dim": 16, "heads": 2, "depth": 1}, "roles": {"video": "rgb", "pose": "pose2d"},
                   "dims": {"rgb": 16, "pose2d": 3}},
    "epamnet": {"roles": {"video": "rgb", "pose": "pose2d"}, "dims": {"rgb": 16, "pose2d": 17}},
    "mmixer": {"args": {"dim": 16, "hidden": 16, "heads": 2}},
    # reads the encoder's per-convention features from aux (stgcn_multiskeleton with ensemble: true)
    "msclr_ensemble": {"args": {"conventions": ["ntu25", "smpl24"]}, "dims": {"skeleton": D},
                       "aux": lambda f: {"per_convention": {"ntu25": f.pooled, "smpl24": f.pooled * 2}}},
    "unipose_recognise": {"args": {"recogniser": {"name": "stgcn", "args": {"in_channels": 3, "config": "small"}}},
                          "roles": {"pose": "depth"}, "dims": {"depth": 3}},
    "unipose_fusion": {"args": {"recogniser": {"name": "stgcn", "args": {"in_channels": 3, "config": "small"}},
                                "cloud_points": 64},
                       "roles": {"pose": "depth"}, "dims": {"depth": 3}},
}
#: Per mixer whose spec declares aux fields filled only under an argument (``AuxField.when``): those arguments.
AUX_ARGS: dict[str, dict] = {}
SHAPES = {"pooled": lambda d: (B, d), "frames": lambda d: (B, T, d), "volume": lambda d: (B, d, T, 7, 7),
          "joints": lambda d: (B, d, T, 25), "xyz": lambda d: (B, T, 64, 3), "points": lambda d: (B, T, 64, d)}


def inputs(spec, setup, seed: int = 0):
    roles = setup.get("roles", {})
    dims = setup.get("dims", {"skeleton": D, "rgb": D + 8})
    needs: dict[str, set] = {}
    for role, fields in spec.needs.items():
        for modality in (dims if role == EVERY_MODALITY else [roles.get(role, role)]):
            needs.setdefault(modality, set()).update(fields)
    g = torch.Generator().manual_seed(seed)
    features = {m: Features(**{f: torch.randn(*SHAPES[f](dims[m]), generator=g) for f in fields})
                for m, fields in needs.items()}
    for f in features.values():
        f.aux = setup.get("aux", lambda _: {})(f)
    return dims, roles, features


def output(mixer, features, masks):
    out = mixer(features, masks)
    return out.logits if out.logits is not None else out.fused


@pytest.mark.parametrize("name", REGISTRY.names("mixer"))
def test_mixer_contract(name):
    spec, setup = REGISTRY.get("mixer", name), SETUP.get(name, {})
    dims, roles, features = inputs(spec, setup)
    torch.manual_seed(0)
    args = {**setup.get("args", {}), **AUX_ARGS.get(name, {})}
    mixer = create_mixer({"name": name, "args": args}, context(REGISTRY, f"mixer {name}"),
                         dims, num_classes=5, roles=roles).eval()
    masks = {m: torch.ones(B, dtype=torch.bool) for m in features}
    with torch.no_grad():
        full = output(mixer, features, masks)
        filled = set(mixer(features, masks).aux)
    assert filled <= aux_names(spec.aux), f"{name}: aux keys {sorted(filled - aux_names(spec.aux))} are not in its spec's aux"
    assert aux_names(spec.aux) <= filled, (f"{name}: declares aux {sorted(aux_names(spec.aux) - filled)} but does not fill "
                                           "it (a field filled only under an argument: add that argument to AUX_ARGS)")
    assert full.shape[0] == B and torch.isfinite(full).all()
    if full.shape[-1] != 5:
        assert full.shape[-1] == mixer.out_dim
    if len(features) < 2:
        return  # one modality: masking it leaves nothing to fuse
    for masked in features:
        masks = {m: torch.tensor([True, False, True, False]) if m == masked else torch.ones(B, dtype=torch.bool)
                 for m in features}
        changed = dict(features)
        changed[masked] = Features(**{f: getattr(features[masked], f) * 3 + 1 for f in features[masked].provided()})
        with torch.no_grad():
            before, after = output(mixer, features, masks), output(mixer, changed, masks)
        assert torch.allclose(before[1::2], after[1::2], atol=1e-5), f"{name}: masked {masked} changes the output"
        assert not torch.allclose(before[0::2], after[0::2]), f"{name}: {masked} is ignored where present"
