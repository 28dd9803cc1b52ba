"""The linear classification head."""

from __future__ import annotations

from torch import nn

from fusion.errors import RecipeError
from fusion.types import HeadSpec


class LinearHead(nn.Module):
    """Dropout then ``Linear(in_dim, num_classes)``; weights ~ N(0, std) as in ST-GCN/CTR-GCN heads.

    Args:
        in_dim, num_classes: sizes.
        dropout: dropout on the input.
        init_std: weights ~ N(0, init_std), zero bias (default: PyTorch's init).
        norm: ``batch`` puts a parameter-free ``BatchNorm1d(in_dim, affine=False, eps=1e-6)`` before the
            Linear (MAE / MAMP linear probing: frozen features of arbitrary scale); ``none`` (default).
    """

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.0, init_std: float | None = None,
                 norm: str = "none"):
        super().__init__()
        if norm not in ("batch", "none"):
            raise RecipeError(f"model.head.args.norm: expected 'batch' or 'none', got {norm!r}")
        self.norm = nn.BatchNorm1d(in_dim, affine=False, eps=1e-6) if norm == "batch" else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_dim, num_classes)
        if init_std is not None:
            nn.init.normal_(self.fc.weight, 0.0, init_std)
            nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        return self.fc(self.dropout(self.norm(x)))


SPEC = HeadSpec(name="linear", factory=LinearHead, doc="Dropout + Linear(D, classes).")
