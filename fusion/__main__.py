"""``python -m fusion`` (used by torchrun / accelerate launch)."""

import sys

from fusion.cli import main

sys.exit(main())
