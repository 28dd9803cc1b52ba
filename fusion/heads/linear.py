"""The linear classification head."""

from __future__ import annotations

from torch import nn

from fusion.types import HeadSpec


class LinearHead(nn.Module):
    """Dropout then ``Linear(in_dim, num_classes)``; weights ~ N(0, std) as in ST-GCN/CTR-GCN heads."""

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.0, init_std: float | None = None):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_dim, num_classes)
        if init_std is not None:
            nn.init.normal_(self.fc.weight, 0.0, init_std)
            nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        return self.fc(self.dropout(x))


SPEC = HeadSpec(name="linear", factory=LinearHead, doc="Dropout + Linear(D, classes).")
