"""Hugging Face Spaces entry point (``app_file`` in README.md): the Space runs this folder as it is."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # the Space does not install this package
from rudiment_demo.app import main

if __name__ == "__main__":
    raise SystemExit(main())
