"""``python -m sousa_rudiments`` = the ``sousa`` command."""

import sys

from sousa_rudiments.cli import main

sys.exit(main())
