"""Heads map the fused vector (B, D) to logits (B, K)."""
