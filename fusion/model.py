"""Build encoders + mixer + head from a recipe, checking that the mixer gets every feature it needs."""

from __future__ import annotations

import torch
from torch import nn

from fusion.construct import BuildContext, build_spec, create_head, create_mixer
from fusion.errors import ContractError
from fusion.registry import Registry
from fusion.types import EVERY_MODALITY, FEATURE_FIELDS, LOSSES, Batch, EncoderSpec, Features, MixerSpec, ModelOutput

DEFAULT_MIXER = {"name": "concat", "args": {}}


class FusionModel(nn.Module):
    """``batch -> encoders (one per modality) -> mixer(features, masks) -> head -> logits``.

    Encoders run on every modality present in the batch (zeros where a sample lacks it; the mask
    tells the mixer). If the mixer produces logits itself (late fusion), there is no head.
    """

    def __init__(self, encoders: dict[str, nn.Module], mixer: nn.Module, head: nn.Module | None):
        super().__init__()
        self.encoders = nn.ModuleDict(dict(sorted(encoders.items())))
        self.mixer = mixer
        self.head = head

    def train(self, mode: bool = True) -> FusionModel:
        """Modules frozen by ``model.freeze`` stay in eval mode (their normalisation statistics too)."""
        super().train(mode)
        for module in getattr(self, "frozen_modules", ()):
            module.eval()
        return self

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    def encode(self, batch: Batch) -> dict[str, Features]:
        missing = [m for m in self.encoders if m not in batch]
        if missing:
            raise ContractError(
                f"the batch has no {', '.join(missing)} tensor (it has {', '.join(k for k in batch if k in self.encoders) or 'none'}); "
                "add the modality to data.modalities or remove its encoder"
            )
        return {m: encoder(batch[m]) for m, encoder in self.encoders.items()}

    def forward(self, batch: Batch) -> ModelOutput:
        features = self.encode(batch)
        masks = {m: batch["mask"][m] for m in features}
        mixed = self.mixer(features, masks)
        logits = mixed.logits
        if self.head is not None and mixed.fused is not None:
            logits = self.head(mixed.fused)
        aux = dict(mixed.aux)
        encoder_losses = {f"{m}.{name}": term for m, f in features.items() for name, term in (LOSSES.get(f.aux) or {}).items()}
        if encoder_losses:  # e.g. Hyper-GCN's divergence loss: objectives add every aux['losses'] term
            aux[LOSSES.name] = {**LOSSES.get(aux, {}), **encoder_losses}
        return ModelOutput(logits=logits, fused=mixed.fused, features=features, aux=aux)


def check_mixer_needs(
    mixer: MixerSpec, roles: dict[str, str], encoders: dict[str, EncoderSpec], registry: Registry
) -> None:
    """Fail before training if an encoder does not provide what the mixer needs for a role."""
    for role, fields in mixer.needs.items():
        modalities = list(encoders) if role == EVERY_MODALITY else [roles.get(role, role)]
        for modality in modalities:
            if modality not in encoders:
                raise ContractError(
                    f"mixer {mixer.name!r} needs role {role!r}, mapped to modality {modality!r}, but the model has "
                    f"encoders only for {', '.join(encoders)}; set model.mixer.roles.{role} to one of them"
                )
            have = encoders[modality].provides
            for field in sorted(set(fields) - set(have)):
                could = [
                    s.name for s in registry.all_specs("encoder") if s.modality == modality and field in s.provides
                ]
                raise ContractError(
                    f"mixer {mixer.name!r} needs {field!r} {FEATURE_FIELDS.get(field, '')} for role {role!r} "
                    f"(modality {modality!r}), but encoder {encoders[modality].name!r} provides only "
                    f"{', '.join(sorted(have))}; encoders that provide {field!r} for {modality}: "
                    f"{', '.join(could) or 'none registered'}"
                )


def build_model(recipe: dict, registry: Registry, num_classes: int) -> FusionModel:
    """The model a recipe describes; raises :class:`ContractError` if the pieces do not fit."""
    model_cfg = recipe["model"]
    encoder_specs: dict[str, EncoderSpec] = {}
    encoders: dict[str, nn.Module] = {}
    for modality, block in model_cfg["encoders"].items():
        spec, encoder = build_spec("encoder", block, BuildContext(registry, f"model.encoders.{modality}"))
        if spec.modality and spec.modality != modality:
            raise ContractError(
                f"model.encoders.{modality}: encoder {spec.name!r} is for modality {spec.modality!r}, not {modality!r}"
            )
        if not hasattr(encoder, "out_dim"):
            raise ContractError(f"encoder {spec.name!r} (plugin {spec.plugin!r}) has no out_dim attribute")
        encoder_specs[modality], encoders[modality] = spec, encoder
    mixer_block = model_cfg["mixer"] or DEFAULT_MIXER
    roles = dict(mixer_block.get("roles") or {})
    mixer_spec = registry.get("mixer", mixer_block["name"])
    check_mixer_needs(mixer_spec, roles, encoder_specs, registry)
    dims = {m: int(e.out_dim) for m, e in encoders.items()}
    mixer = create_mixer(mixer_block, BuildContext(registry, "model.mixer"), dims, num_classes, roles)
    head = None
    if model_cfg["head"] is not None and getattr(mixer, "out_dim", None):
        head = create_head(model_cfg["head"], BuildContext(registry, "model.head"), int(mixer.out_dim), num_classes)
    return FusionModel(encoders, mixer, head)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the rows of ``x`` (B, ...) whose mask is False."""
    return x * mask.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
