"""``fusion predict``: a trained run applied to a user's own files, videos or live streams.

:mod:`~fusion.predict.predictor` rebuilds the run's evaluation pipeline (test transforms, clips,
weights); :mod:`~fusion.predict.inputs` reads files through the registered input formats and pose
estimators (plugins, never imported here by name); :mod:`~fusion.predict.stream` slides a window
over a stream; :mod:`~fusion.predict.overlay` draws the skeleton and labels into a video.
"""
