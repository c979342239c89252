"""``python -m music_ml_train`` is ``train``."""

from music_ml_train.cli import main

if __name__ == "__main__":
    main()
