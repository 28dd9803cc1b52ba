"""Official checkpoint formats (CTR-GCN, Hyper-GCN, PSUMNet, PySKL ST-GCN / ST-GCN++, BRL, MAMP, STARS, HiCLR,
HaLP, CascadeFormer) for ``fusion convert`` and ``model.init.format``."""
