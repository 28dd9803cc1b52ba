"""Test plugin: the toy MLP encoder registered for pose2d with frames, so sequence mixers run on toy data."""

from toy_plugin import MLPEncoder

from fusion import EncoderSpec, hookimpl


@hookimpl
def fusion_add_encoders():
    return [EncoderSpec(name="toy_mlp_pose_frames", factory=MLPEncoder, modality="pose2d",
                        provides=frozenset({"pooled", "frames"}), doc="Toy MLP encoder for pose2d with frames.")]
