"""UniPose (Zheng et al., PRCV 2025): weakly supervised 3D pose from RGB-D, and lift-then-recognise.

- :mod:`.pointcloud`: the point-cloud branch (OBB + two-stack PointNet++ voting), encoder ``unipose_pointcloud``.
- :mod:`.image_lifter` / :mod:`.a2j`: anchor-to-joint lifters on RGB and depth, ``unipose_a2j_rgb`` / ``_depth``.
- :mod:`.losses`: ray (2D-to-3D back-projection), bone-length prior, symmetry, motion, bone consistency.
- :mod:`.objective`: ``unipose_lift``, the pose task; :mod:`.metrics`: MPJPE, accuracy within 10 cm, naive lifting.
- :mod:`.recognise`: mixer ``unipose_recognise``, lifted skeletons classified by any skeleton encoder.
- :mod:`.fusion`: mixer ``unipose_fusion`` (proposed), lifted-skeleton stream + point-cloud stream, concatenated.
- :mod:`.detections`: cross-modality input, per-point 2D-detection heat (transform in :mod:`.plugin`).
- ``python -m fusion_plugins.unipose.evaluate RUN_DIR``: pose metrics of a trained run.

The point-cloud branch follows C3P (the authors' predecessor, public code); the A2J heads follow A2J;
how UniPose couples them (pseudo-labels, depth references) is proposed where the paper is silent.
"""

from fusion_plugins.unipose import fusion, image_lifter, objective, pointcloud, recognise

ENCODERS = [pointcloud.SPEC, *image_lifter.SPECS]
MIXERS = [recognise.SPEC, fusion.SPEC]
OBJECTIVES = [objective.SPEC]
