"""RGB video encoders, one file per family; every one returns volume / frames / pooled Features.

* ``xshiftnet``: EPAM-Net's X-ShiftNet RGB and pose streams (``xshiftnet_rgb``, ``xshiftnet_pose``);
* ``x3d``, ``slowfast``, ``r2plus1d``: PyTorchVideo builders without their heads;
* ``timm_tsm``: any timm 2D backbone per frame with temporal shift (``tsm``);
* ``tsm``: the temporal shift itself (``temporal_shift``), shared by TSM and X-ShiftNet.

:data:`VIDEO_FACTORIES` lists the factories that take ``in_channels`` and work on any video-like
modality; the depth plugin builds its encoders from them.
"""

from __future__ import annotations

from fusion_plugins.rgb.encoders import r2plus1d, slowfast, timm_tsm, x3d, xshiftnet

SPECS = [*xshiftnet.SPECS, *x3d.SPECS, *slowfast.SPECS, *r2plus1d.SPECS, *timm_tsm.SPECS]

VIDEO_FACTORIES = {spec.name: spec.factory for spec in SPECS if spec.modality == "rgb"}
