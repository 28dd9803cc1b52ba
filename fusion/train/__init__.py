"""Training and evaluation on Accelerate: one code path for CPU, one GPU, or many processes."""
