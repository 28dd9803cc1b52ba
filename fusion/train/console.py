"""What a run prints: the start banner and the progress bars (training, evaluation, data generation).

Bars go to stderr and show when stderr is a terminal; ``FUSION_PROGRESS=1`` (or ``0``) forces them
on (off), e.g. for a log file that should keep them. Only the main process draws.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm

#: Seconds between redraws (tqdm's default).
MININTERVAL = 0.1


def progress_enabled(allowed: bool | None = None, main_process: bool = True) -> bool:
    """Whether to draw a bar: never on other ranks or when ``allowed`` is False; else FUSION_PROGRESS, else a tty."""
    if not main_process or allowed is False:
        return False
    forced = os.environ.get("FUSION_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return bool(allowed) or sys.stderr.isatty()


def bar(iterable=None, total: int | None = None, desc: str = "", enabled: bool = True, **kwargs) -> tqdm:
    """A tqdm bar on stderr that leaves no line behind (the epoch summary line follows it)."""
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True,
                file=sys.stderr, mininterval=MININTERVAL, **kwargs)


def banner(rows: list[tuple[str, str]]) -> str:
    """Aligned ``key  value`` lines between rules, printed once when a run starts."""
    width = max(len(key) for key, _ in rows)
    lines = [f"  {key:<{width}}  {value}" for key, value in rows]
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


def run_banner(run_dir, samples: dict[str, int], params: int, steps_per_epoch: int, epochs: int,
               device: str, processes: int, threads: str, workers: int, resumed: str | None = None) -> str:
    """The start banner of ``fusion train``: where, how much data, how big, how long, on what."""
    rows = [
        ("run", str(run_dir)),
        ("samples", ", ".join(f"{split} {count:,}" for split, count in samples.items())),
        ("parameters", f"{params:,} trainable"),
        ("steps", f"{steps_per_epoch:,} per epoch x {epochs} epochs"),
        ("device", f"{device}, {processes} process(es)"),
        ("threads", f"{threads} per process; data-loader workers {workers} (1 thread each)"),
    ]
    if resumed:
        rows.append(("resumed", resumed))
    return banner(rows)
