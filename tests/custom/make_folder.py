"""Writes what a user would bring: a made-up 15-joint layout, keypoint files of four types, labels.csv.

Three classes a GCN must tell apart from motion: raise the left arm, kick with the right leg, squat.
Twelve subjects differ in body size; every subject performs each class twice (72 samples).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LAYOUT = """\
name: lab15
doc: a made-up 15-joint tracker (tests and docs/custom_dataset.md)
joints: [pelvis, chest, head,
         left_shoulder, left_elbow, left_wrist, right_shoulder, right_elbow, right_wrist,
         left_hip, left_knee, left_ankle, right_hip, right_knee, right_ankle]
bones: [[pelvis, chest], [head, chest],
        [left_shoulder, chest], [left_elbow, left_shoulder], [left_wrist, left_elbow],
        [right_shoulder, chest], [right_elbow, right_shoulder], [right_wrist, right_elbow],
        [left_hip, pelvis], [left_knee, left_hip], [left_ankle, left_knee],
        [right_hip, pelvis], [right_knee, right_hip], [right_ankle, right_knee]]
centre: chest
origin: pelvis
parts:
  torso: [pelvis, chest, head]
  left_arm: [left_shoulder, left_elbow, left_wrist]
  right_arm: [right_shoulder, right_elbow, right_wrist]
  left_leg: [left_hip, left_knee, left_ankle]
  right_leg: [right_hip, right_knee, right_ankle]
"""

REST = np.array([
    [0, 1.0, 0], [0, 1.4, 0], [0, 1.7, 0],
    [-0.2, 1.4, 0], [-0.45, 1.4, 0], [-0.7, 1.4, 0], [0.2, 1.4, 0], [0.45, 1.4, 0], [0.7, 1.4, 0],
    [-0.1, 1.0, 0], [-0.1, 0.5, 0], [-0.1, 0.0, 0], [0.1, 1.0, 0], [0.1, 0.5, 0], [0.1, 0.0, 0],
], dtype=np.float32)
CLASSES = ("raise_arm", "kick", "squat")


def motion(label: int, scale: float, frames: int, rng: np.random.Generator) -> np.ndarray:
    """(T, 15, 3) joints of one performance."""
    phase = np.sin(np.linspace(0, np.pi, frames))[:, None]
    joints = np.repeat(REST[None] * scale, frames, axis=0)
    if label == 0:
        joints[:, [4, 5], 1] += phase * np.array([0.3, 0.6]) * scale
    elif label == 1:
        joints[:, [13, 14], 2] += phase * np.array([0.3, 0.6]) * scale
    else:
        joints[:, :9, 1] -= phase * 0.3 * scale
        joints[:, [10, 13], 2] += phase * 0.2 * scale
    return joints + rng.normal(0, 0.01, joints.shape).astype(np.float32)


def write_folder(root: Path, subjects: int = 12, repetitions: int = 2, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "lab15.yaml").write_text(LAYOUT)
    rows = ["sample,label,subject"]
    kinds = ("npy", "json", "csv", "npz")
    count = 0
    for subject in range(subjects):
        scale = 0.9 + 0.2 * rng.random()
        for label, name in enumerate(CLASSES):
            for rep in range(repetitions):
                joints = motion(label, scale, int(rng.integers(30, 50)), rng)
                sample = f"s{subject:02d}_{name}_{rep}"
                kind = kinds[count % len(kinds)]
                count += 1
                if kind == "npy":
                    np.save(root / f"{sample}.npy", joints)
                elif kind == "npz":
                    np.savez(root / f"{sample}.npz", keypoints=joints[None])
                elif kind == "json":
                    (root / f"{sample}.json").write_text(json.dumps({"keypoints": joints.round(5).tolist()}))
                else:
                    lines = ["frame,joint,x,y,z"] + [
                        f"{t},{j},{x:.5f},{y:.5f},{z:.5f}" for t in range(len(joints)) for j, (x, y, z) in enumerate(joints[t])
                    ]
                    (root / f"{sample}.csv").write_text("\n".join(lines) + "\n")
                rows.append(f"{sample},{name},subject{subject:02d}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


RECIPE = """\
name: lab15_stgcn
data:
  dataset:
    name: keypoint_folder
    args: {{root: {root}, layout: {layout}, num_frames: 32}}
  modalities: [skeleton]
  transforms:
    train:
      - {{name: skeleton.center, args: {{layout: {layout}}}}}
    test:
      - {{name: skeleton.center, args: {{layout: {layout}}}}}
model:
  encoders:
    skeleton: {{name: stgcn, args: {{layout: {layout}, in_channels: 3, config: small}}}}
  mixer: {{name: concat}}
  head: {{name: linear}}
train:
  epochs: 12
  batch_size: 8
  optimizer: {{name: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0005, nesterov: true}}
  schedule: {{name: cosine, warmup_epochs: 1}}
eval:
  batch_size: 16
"""


def write_recipe(root: Path) -> Path:
    path = root / "lab15_stgcn.yaml"
    path.write_text(RECIPE.format(root=root, layout=root / "lab15.yaml"))
    return path
