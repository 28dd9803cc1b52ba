"""The self-supervised plugin: MAMP, STARS, SkeletonMAE, HaLP, HiCLR, MS-CLR pretext objectives, ACLNet."""

from __future__ import annotations
