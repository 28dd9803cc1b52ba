"""Any ONNX 2D pose model given by local path (e.g. a torchvision Keypoint R-CNN exported with torch.onnx).

The model's contract (what torchvision's Keypoint R-CNN export gives): one input, an RGB image
``(3, H, W)`` or ``(1, 3, H, W)`` float in 0..1; among the outputs, ``keypoints`` ``(K, 17, 3)``
(x, y pixels and a visibility), person ``scores`` ``(K,)`` and optionally ``keypoints_scores``
``(K, 17)`` (logits, squashed to 0..1). Outputs are found by these names, else by shape. Joints
are COCO-17; persons under ``min_score`` are dropped, the rest tracked across frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusion.errors import DataError, FusionError, first_line
from fusion_plugins.pose.convert import joint_names
from fusion_plugins.pose.tracking import Tracker, estimate_video

COCO_JOINTS = 17


def _squash(values: np.ndarray) -> np.ndarray:
    return values if values.size == 0 or (values.min() >= 0 and values.max() <= 1) else 1 / (1 + np.exp(-values))


class OnnxPose:
    """``estimator(frames (T, H, W, 3) uint8) -> (pose2d (M, T, V, 3), meta)`` with an ONNX model (see module doc)."""

    native_layout = "coco17"

    def __init__(self, layout: str = "coco17", max_persons: int = 2, model_path: str | None = None,
                 min_score: float = 0.5):
        if not model_path or not Path(model_path).is_file():
            raise FusionError(f"pose estimator 'onnx_keypoints' needs --pose-model FILE.onnx (a local file); got {model_path!r}")
        try:
            import onnxruntime
        except ImportError as exc:
            raise FusionError(f"pose estimator 'onnx_keypoints' needs onnxruntime ({exc}): pip install onnxruntime") from None
        joint_names(layout)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise DataError(f"{model_path}: not a loadable ONNX model ({first_line(exc)})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) not in (3, 4):
            raise DataError(f"{model_path}: expected one image input (3, H, W) or (1, 3, H, W), got "
                            f"{[(i.name, i.shape) for i in inputs]}")
        self.input, self.batched = inputs[0].name, len(inputs[0].shape) == 4
        self.path, self.layout, self.max_persons, self.min_score = str(model_path), layout, int(max_persons), min_score
        self.tracker = Tracker()

    def reset(self) -> None:
        self.tracker = Tracker()

    def _outputs(self, values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        named = {o.name: np.asarray(v) for o, v in zip(self.session.get_outputs(), values)}
        squeezed = {k: v[0] if v.ndim >= 2 and v.shape[0] == 1 and self.batched else v for k, v in named.items()}
        keypoints = squeezed.get("keypoints")
        if keypoints is None:
            keypoints = next((v for v in squeezed.values() if v.ndim == 3 and v.shape[-1] == 3), None)
        if keypoints is None or keypoints.shape[1:] != (COCO_JOINTS, 3):
            raise DataError(f"{self.path}: no 'keypoints' output (K, {COCO_JOINTS}, 3); outputs are "
                            f"{ {k: v.shape for k, v in named.items()} }")
        count = keypoints.shape[0]
        scores = squeezed.get("scores")
        if scores is None:
            scores = next((v for v in squeezed.values() if v.ndim == 1 and v.shape[0] == count
                           and np.issubdtype(v.dtype, np.floating)), np.ones(count, np.float32))
        joint_scores = squeezed.get("keypoints_scores")
        if joint_scores is None:
            joint_scores = next((v for v in squeezed.values() if v.shape == (count, COCO_JOINTS)), None)
        return keypoints.astype(np.float32), scores.astype(np.float32), joint_scores

    def detect(self, frame: np.ndarray) -> list[np.ndarray]:
        image = np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=np.float32) / 255.0
        keypoints, scores, joint_scores = self._outputs(self.session.run(None, {self.input: image[None] if self.batched
                                                                                else image}))
        score = _squash(joint_scores) if joint_scores is not None else np.clip(keypoints[..., 2], 0, 1)
        people = np.concatenate([keypoints[..., :2], (score * (keypoints[..., 2] > 0))[..., None]], axis=-1)
        return [person for person, s in zip(people, scores) if s >= self.min_score]

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, dict]:
        return estimate_video(frames, self.detect, self.tracker, self.max_persons, self.native_layout, self.layout)
