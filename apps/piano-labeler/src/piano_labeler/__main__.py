"""``python -m piano_labeler``: the same as the ``piano-labeler`` command."""

from piano_labeler.app import main

raise SystemExit(main())
