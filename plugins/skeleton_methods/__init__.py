"""Supervised skeleton methods: Hyper-GCN, PSUMNet, CascadeFormer, BRL, FineTec."""
