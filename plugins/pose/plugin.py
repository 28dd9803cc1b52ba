"""The pose plugin: 2D pose estimators for ``fusion predict`` on videos (``fusion list pose_estimators``)."""

from __future__ import annotations

from fusion.hookspecs import hookimpl
from fusion.types import PoseEstimatorSpec


def mediapipe(layout: str = "coco17", max_persons: int = 2, model_path: str | None = None):
    """Imported lazily: mediapipe is an optional install."""
    from fusion_plugins.pose.mediapipe_pose import mediapipe_estimator

    return mediapipe_estimator(layout, max_persons, model_path)


def onnx(layout: str = "coco17", max_persons: int = 2, model_path: str | None = None):
    """Imported lazily: onnxruntime is needed only for this estimator."""
    from fusion_plugins.pose.onnx_pose import OnnxPose

    return OnnxPose(layout, max_persons, model_path)


@hookimpl
def fusion_add_pose_estimators():
    return [PoseEstimatorSpec(name="mediapipe", factory=mediapipe, native_layout="mediapipe33",
                              doc="MediaPipe BlazePose full (models inside the mediapipe 0.10.21 wheel), "
                                  "several persons by blanking, tracked; CPU, offline"),
            PoseEstimatorSpec(name="onnx_keypoints", factory=onnx, native_layout="coco17",
                              doc="any local ONNX COCO-17 pose model (--pose-model FILE.onnx), e.g. an exported "
                                  "torchvision Keypoint R-CNN; tracked")]
