"""MediaPipe BlazePose (full) with the models bundled in the ``mediapipe`` 0.10.21 wheel: offline, CPU.

BlazePose finds one person per pass, so several persons are found one after another: each
found person is blanked out of the frame before the next pass (one BlazePose instance per
person slot, each following its own person from frame to frame). Detections are then tracked
across frames (:mod:`fusion_plugins.pose.tracking`) and converted to the requested layout.

The graph is driven through ``SolutionBase`` with the graph's default thresholds: changing its
calculator options needs protobuf < 5, which other packages here cannot share.
"""

from __future__ import annotations

import numpy as np

from fusion.errors import FusionError
from fusion_plugins.pose.convert import joint_names
from fusion_plugins.pose.tracking import Tracker, estimate_video

INSTALL = 'pip install -e ".[pose]" && pip install --no-deps "mediapipe==0.10.21"'


def _solution():
    try:
        from mediapipe.python.solution_base import SolutionBase
        from mediapipe.python.solutions import pose
    except ImportError as exc:
        raise FusionError(f"pose estimator 'mediapipe' needs the mediapipe package ({exc}); install it with: "
                          f"{INSTALL}") from None
    side = {"model_complexity": 1, "smooth_landmarks": True, "enable_segmentation": False,
            "smooth_segmentation": False, "use_prev_landmarks": True}
    return SolutionBase(binary_graph_path=pose._BINARYPB_FILE_PATH, side_inputs=side, outputs=["pose_landmarks"])


class MediaPipePose:
    """``estimator(frames (T, H, W, 3) uint8) -> (pose2d (M, T, V, 3) pixels + score, meta)``; see the module doc."""

    native_layout = "mediapipe33"

    def __init__(self, layout: str = "coco17", max_persons: int = 2, model_path: str | None = None,
                 max_side: int = 960, margin: float = 0.1):
        if model_path is not None:
            raise FusionError("pose estimator 'mediapipe' uses the models inside the mediapipe package; "
                              "model_path must be empty")
        joint_names(layout)  # an unknown layout fails here, before any frame is decoded
        self.layout, self.max_persons, self.max_side, self.margin = layout, int(max_persons), int(max_side), margin
        self.reset()

    def reset(self) -> None:
        """Forget the persons followed so far (call between two videos)."""
        self.solutions = [_solution() for _ in range(self.max_persons)]
        self.tracker = Tracker()

    def detect(self, frame: np.ndarray) -> list[np.ndarray]:
        """Every person in one frame as (33, 3) pixel x, y and visibility."""
        h, w = frame.shape[:2]
        step = max(1, int(np.ceil(max(h, w) / self.max_side)))
        image = np.ascontiguousarray(frame[::step, ::step])
        sh, sw = image.shape[:2]
        people = []
        for solution in self.solutions:
            landmarks = solution.process({"image": image}).pose_landmarks
            if landmarks is None:
                break
            person = np.array([[p.x * sw, p.y * sh, p.visibility] for p in landmarks.landmark], np.float32)
            lo, hi = person[:, :2].min(0), person[:, :2].max(0)
            pad = self.margin * (hi - lo)
            x0, y0 = np.maximum((lo - pad).astype(int), 0)
            x1, y1 = (hi + pad).astype(int) + 1
            image = image.copy()
            image[y0:y1, x0:x1] = 0  # the next pass looks for somebody else
            person[:, :2] *= [w / sw, h / sh]
            people.append(person)
        return people

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, dict]:
        return estimate_video(frames, self.detect, self.tracker, self.max_persons, self.native_layout, self.layout)


def mediapipe_estimator(layout: str = "coco17", max_persons: int = 2, model_path: str | None = None) -> MediaPipePose:
    """MediaPipe BlazePose (bundled models); see :class:`MediaPipePose`."""
    return MediaPipePose(layout, max_persons, model_path)
