"""``python -m music_ml_publish`` is the ``publish`` command."""

import sys

from music_ml_publish.cli import main

sys.exit(main())
