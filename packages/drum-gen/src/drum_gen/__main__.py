"""``python -m drum_gen`` runs the ``drum-gen`` CLI."""

import sys

from drum_gen.cli import main

sys.exit(main())
