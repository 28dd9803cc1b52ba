"""Run by torchrun in tests: train a recipe (JSON argv[1]) into argv[2]; each rank writes what it ended with."""

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusion.recipe import from_dict  # noqa: E402
from fusion.train.trainer import Trainer  # noqa: E402

recipe, run_dir = json.loads(sys.argv[1]), Path(sys.argv[2])
trainer = Trainer(from_dict(recipe), run_dir, progress=False)
bn_digests = []  # BatchNorm buffers right after each precise-BN re-estimation, before anything syncs them
_precise_bn = trainer._precise_bn


def _recording_precise_bn():
    _precise_bn()
    model = trainer.accelerator.unwrap_model(trainer.module).model
    stats = [b.detach().cpu().numpy() for name, b in model.named_buffers() if "running" in name]
    bn_digests.append(hashlib.sha256(b"".join(b.tobytes() for b in stats)).hexdigest())


trainer._precise_bn = _recording_precise_bn
summary = trainer.fit()
acc = trainer.accelerator
params = [p.detach().cpu().numpy() for p in acc.unwrap_model(trainer.module).parameters()]
digest = hashlib.sha256(b"".join(p.tobytes() for p in params)).hexdigest()
buffers = [b.detach().cpu().numpy() for b in acc.unwrap_model(trainer.module).buffers()]
buffers_digest = hashlib.sha256(b"".join(b.tobytes() for b in buffers)).hexdigest()
(run_dir / f"rank{acc.process_index}.json").write_text(json.dumps({
    "digest": digest,
    "buffers_digest": buffers_digest,
    "bn_digests": bn_digests,
    "world": acc.num_processes,
    "type": str(acc.distributed_type),
    "summary": summary,
}))
