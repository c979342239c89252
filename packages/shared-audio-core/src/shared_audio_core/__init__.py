"""Audio and MIDI plumbing shared by the music-ML toolkit.

Submodules are imported explicitly (``from shared_audio_core.audio import load_audio``) so that importing the
package stays cheap: ``audio``, ``synth``, ``augment``, ``tokenize`` and ``metrics`` each pull in their own
heavy dependencies (librosa, symusic, audiomentations, miditok, torch) only when used.
"""

__version__ = "0.1.0"
