"""Pose estimation: videos → tracked 2D poses (``pose2d``) in the layout a run was trained on."""
