"""Fine-tuning a pre-trained encoder: classification with BEiT layer-wise lr decay (MAMP/STARS protocol).

The encoder's layers get ``lr_scale = layer_decay ** (depth + 1 − layer)`` (embeddings 0, block ``i``
→ ``i + 1``); heads, mixer and the final norm keep the full lr. Encoders without ``blocks`` get one
scale. ``layer_decay: 1.0`` is the scratch baseline's plain optimiser.
"""

from __future__ import annotations

from fusion.objectives.classify import Classify
from fusion.types import LOGITS_PER_MODALITY, LOSSES, ObjectiveSpec

from .pretext import PretextObjective, layer_decay_groups, transformer_layer_of


class FineTune(Classify):
    """Cross-entropy with label smoothing; parameter groups with layer-wise lr decay over the encoder.

    Args:
        label_smoothing: 0.1 in MAMP's fine-tuning.
        layer_decay: 0.8 (MAMP), 1.0 disables.
        base_lr: the recipe's lr, so groups carry ``lr = base_lr · lr_scale`` (see :mod:`.pretext`).
        modality: the encoder the decay applies to.
    """

    #: The registry name, used in error messages.
    objective_name = "finetune"

    def __init__(self, label_smoothing: float = 0.1, layer_decay: float = 0.8, base_lr: float | None = None,
                 modality: str = "skeleton", branch_weight: float = 0.0):
        super().__init__(label_smoothing, branch_weight)
        self.layer_decay, self.base_lr, self.modality = float(layer_decay), base_lr, modality

    def param_groups(self, model, weight_decay: float) -> list[dict]:
        helper = PretextObjective(self.modality)
        encoder = helper.encoder(model)
        depth = len(getattr(encoder, "blocks", ()))
        layer_of = transformer_layer_of(f"model.encoders.{self.modality}.", depth)
        return layer_decay_groups(helper.named_trainables(model), weight_decay, layer_of, depth + 1, self.layer_decay,
                                  helper.no_weight_decay_names(model), self.base_lr)


SPEC = ObjectiveSpec(name="finetune", factory=FineTune,
                     doc="Classification with label smoothing and layer-wise lr decay over the encoder (fine-tuning stage).",
                     batch=("label", "mask"), aux=(LOSSES, LOGITS_PER_MODALITY))
