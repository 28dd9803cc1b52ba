"""Self-supervised skeleton learning: pretext objectives, augmentations and evaluation protocols."""
