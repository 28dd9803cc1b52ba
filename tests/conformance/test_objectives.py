"""Every registered objective declares what it reads (``ObjectiveSpec.batch`` / ``aux``), and a batch or model
output lacking a declared field is one sentence naming the objective, the field and what provides it.

Declarations: batch entries are :data:`fusion.types.BATCH_FIELDS` names or ``"<arg>"`` (the modality tensor its
argument ``arg`` names); every aux field is declared by a registered encoder or mixer (or is the shared ``losses``),
so a provider exists. Objectives that need arguments to build declare them in :data:`ARGS`.
"""

import inspect

import pytest
import torch
from torch import nn

from fusion.construct import build, context, create_mixer
from fusion.errors import ContractError
from fusion.registry import get_registry
from fusion.types import BATCH_FIELDS, LOSSES, Features, ModelOutput, aux_names

REGISTRY = get_registry()
B, K = 4, 3
#: Arguments an objective needs to build (small sizes).
ARGS = {"aclnet": {"embed_dim": 8, "num_classes": K, "num_superclasses": 2}, "brl": {"counts": [6, 3, 1]}}
#: Objectives whose first read of the batch is one declared field (they fail on it before touching the model).
FIRST_READ = {"classify": "label", "finetune": "label", "aclnet": "label", "branch_ce": "label", "brl": "label",
              "finetec": "<modality>", "cascadeformer_pretrain": "<modality>", "mamp": "<modality>",
              "stars": "<modality>", "skeletonmae": "<modality>", "hiclr": "<modality>", "halp": "<modality>",
              "msclr": "<modality>"}


class StubModel(nn.Module):
    """A model returning fixed logits and the given mixer aux (what the objective reads from the model)."""

    def __init__(self, aux: dict | None = None):
        super().__init__()
        self.encoders = nn.ModuleDict()
        self.aux = aux or {}

    def forward(self, batch) -> ModelOutput:
        logits = torch.zeros(B, K, requires_grad=True)
        return ModelOutput(logits=logits, fused=torch.randn(B, 8), features={"skeleton": Features(pooled=torch.randn(B, 8))},
                           aux=self.aux)


def objective(name: str, **args):
    return build("objective", {"name": name, "args": {**ARGS.get(name, {}), **args}}, context(REGISTRY, f"objective {name}"))


def full_batch() -> dict:
    return {"skeleton": torch.randn(B, 3, 8, 25, 2), "label": torch.tensor([0, 1, 2, 0]),
            "index": torch.arange(B), "mask": {"skeleton": torch.ones(B, dtype=torch.bool)}, "meta": [{}] * B}


@pytest.mark.parametrize("name", REGISTRY.names("objective"))
def test_objective_declares_what_it_reads(name):
    spec = REGISTRY.get("objective", name)
    params = set(inspect.signature(spec.factory).parameters)
    for entry in spec.batch:
        if entry.startswith("<"):
            assert entry.strip("<>") in params, f"{name}: batch entry {entry} names no argument of its factory"
        else:
            assert entry in BATCH_FIELDS, f"{name}: batch entry {entry!r} is not a Batch field"
    provided = {LOSSES.name}
    for kind in ("encoder", "mixer"):
        provided |= {f for s in REGISTRY.all_specs(kind) for f in aux_names(s.aux)}
    missing = aux_names(spec.aux) - provided
    assert not missing, f"{name}: reads aux {sorted(missing)} that no registered encoder or mixer declares"
    assert objective(name).objective_name == name, f"{name}: its class names another objective in errors"


@pytest.mark.parametrize("name", sorted(FIRST_READ))
def test_a_batch_without_a_declared_field_is_one_sentence_naming_it(name):
    entry = FIRST_READ[name]
    assert entry in REGISTRY.get("objective", name).batch
    batch = full_batch()
    field = "skeleton" if entry == "<modality>" else entry
    del batch[field]
    with pytest.raises(ContractError) as err:
        objective(name)(StubModel(), batch)
    message = str(err.value)
    assert f"objective {name!r} reads" in message and repr(field) in message and "\n" not in message
    assert ("data.modalities" if entry.startswith("<") else "collate") in message  # what provides it


def test_branch_weight_without_per_modality_logits_names_field_and_mixers():
    with pytest.raises(ContractError) as err:
        objective("classify", branch_weight=1.0)(StubModel(aux={}), full_batch())
    message = str(err.value)
    assert "'classify (branch_weight > 0)'" in message and "'logits_per_modality'" in message and "late" in message
    # with the field, the branch term is trained on the samples that have the modality
    logits = {"skeleton": torch.randn(B, K)}
    loss, out = objective("classify", branch_weight=1.0)(StubModel(aux={"logits_per_modality": logits}), full_batch())
    assert "ce_skeleton" in out["logs"] and torch.isclose(out["logs"]["ce_skeleton"],
                                                          nn.functional.cross_entropy(logits["skeleton"], full_batch()["label"]))


def test_branch_ce_without_per_modality_logits_names_the_field():
    with pytest.raises(ContractError, match="objective 'branch_ce' reads the mixer's aux field 'logits_per_modality'"):
        objective("branch_ce")(StubModel(aux={}), full_batch())


def test_an_a2j_lifter_output_without_anchor_uv_names_objective_field_and_encoder():
    lift = objective("unipose_lift")
    aux = {"uvz": torch.zeros(1, 2, 17, 3), "depth_unit": 0.01}
    with pytest.raises(ContractError) as err:
        lift.a2j_loss(aux, torch.zeros(1, 2, 17, 3), "rgb encoder")
    message = str(err.value)
    assert "objective 'unipose_lift' reads the rgb encoder's aux field 'anchor_uv'" in message
    assert "unipose_a2j_rgb" in message


def test_a_mixer_reading_an_undeclared_encoder_output_names_encoder_and_argument():
    ensemble = create_mixer({"name": "msclr_ensemble", "args": {"conventions": ["ntu25"]}},
                            context(REGISTRY, "model.mixer"), {"skeleton": 8}, K, {})
    with pytest.raises(ContractError) as err:
        ensemble({"skeleton": Features(pooled=torch.randn(B, 8))}, {"skeleton": torch.ones(B, dtype=torch.bool)})
    message = str(err.value)
    assert "mixer 'msclr_ensemble' reads the skeleton encoder's aux field 'per_convention'" in message
    assert "encoder 'stgcn_multiskeleton' provides with ensemble: true" in message


def test_fusion_list_prints_what_components_read_and_fill(capsys):
    from fusion.cli import main

    assert main(["list", "objective", "--args", "--name", "classify"]) == 0
    out = capsys.readouterr().out
    assert "reads batch: label, mask" in out and "reads aux logits_per_modality: modality -> (B, K)" in out
    assert main(["list", "encoder", "--args", "--name", "stgcn_multiskeleton"]) == 0
    assert "fills aux per_convention: convention -> (B, D) pooled features in that convention (with ensemble: true)" \
        in capsys.readouterr().out


def test_aux_declared_as_plain_strings_is_refused_naming_plugin_and_component(tmp_path, monkeypatch):
    from fusion.errors import RegistryError
    from fusion.registry import build_registry

    (tmp_path / "stringy_plugin.py").write_text(
        "from fusion import MixerSpec, hookimpl\n"
        "@hookimpl\n"
        "def fusion_add_mixers():\n"
        "    return [MixerSpec(name='stringy', factory=lambda dims, num_classes, roles: None, aux=('gate',))]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegistryError, match="plugin 'stringy_plugin': mixer 'stringy' declares aux 'gate'; declare fusion"):
        build_registry(["stringy_plugin"])
