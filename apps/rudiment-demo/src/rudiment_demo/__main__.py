"""``python -m rudiment_demo``: the same as the ``rudiment-demo`` command."""

from rudiment_demo.app import main

raise SystemExit(main())
