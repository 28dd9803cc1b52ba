"""A two-layer classification head (MAMP's fine-tuning head)."""

from __future__ import annotations

from torch import nn

from fusion.errors import RecipeError
from fusion.types import HeadSpec


class MLPHead(nn.Module):
    """``Dropout → Linear(in_dim, hidden) → BatchNorm1d → ReLU → Linear(hidden, classes)``.

    MAMP (and STARS, which reuses its protocol) fine-tunes with this head on the skeleton transformer's
    joint-concatenated features (``pool: joints``, 25 × 256 = 6400-d), hidden 2048: 13,236,284
    parameters for 60 classes. MAMP applies its dropout to the tokens before the time average;
    here it acts on the averaged vector (the same at inference).

    Args:
        in_dim: fused feature size.
        num_classes: logits.
        hidden: width of the hidden layer.
        dropout: dropout on the input.
        norm: ``batch`` (BatchNorm1d after the first Linear) or ``none``.
    """

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 2048, dropout: float = 0.0, norm: str = "batch"):
        super().__init__()
        if norm not in ("batch", "none"):
            raise RecipeError(f"model.head.args.norm: expected 'batch' or 'none', got {norm!r}")
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_dim, hidden),
            nn.BatchNorm1d(hidden) if norm == "batch" else nn.Identity(),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.net(x)


SPEC = HeadSpec(name="mlp", factory=MLPHead, doc="Dropout → Linear → BN → ReLU → Linear (MAMP's fine-tuning head).")
