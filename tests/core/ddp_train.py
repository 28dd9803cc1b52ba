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
summary = trainer.fit()
acc = trainer.accelerator
params = [p.detach().cpu().numpy() for p in acc.unwrap_model(trainer.module).parameters()]
digest = hashlib.sha256(b"".join(p.tobytes() for p in params)).hexdigest()
(run_dir / f"rank{acc.process_index}.json").write_text(json.dumps({
    "digest": digest,
    "world": acc.num_processes,
    "type": str(acc.distributed_type),
    "summary": summary,
}))
