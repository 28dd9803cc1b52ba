"""The supervised skeleton methods plugin: Hyper-GCN, PSUMNet, CascadeFormer, BRL, FineTec."""

from __future__ import annotations
