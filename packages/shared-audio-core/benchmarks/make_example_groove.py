"""Regenerate ``shared_audio_core/data/example_drum_groove.mid`` (run once; the .mid is committed).

A 5-bar rock groove at 120 BPM in 4/4 = exactly 10 s: crash + kick on the downbeat, kick on 1 and 3
(with a pickup), snare backbeats with ghost notes, 8th-note closed hats with accents, an open hat at
the end of bar 2, and a tom fill in the last bar. All on the GM percussion channel (is_drum).

    uv run --frozen python packages/shared-audio-core/benchmarks/make_example_groove.py
"""

from __future__ import annotations

from pathlib import Path

import symusic

TPQ = 480
BPM = 120
BARS = 5
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49
HIGH_TOM, MID_TOM, LOW_TOM = 50, 47, 45
OUT = Path(__file__).resolve().parents[1] / "src" / "shared_audio_core" / "data" / "example_drum_groove.mid"


def build_groove() -> symusic.Score:
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, BPM))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    track = symusic.Track("Drums", program=0, is_drum=True)
    eighth = TPQ // 2
    sixteenth = TPQ // 4
    bar_len = 4 * TPQ

    def hit(tick: int, pitch: int, velocity: int, duration: int = sixteenth) -> None:
        track.notes.append(symusic.Note(tick, duration, pitch, velocity))

    for bar in range(BARS):
        start = bar * bar_len
        if bar == 0:
            hit(start, CRASH, 110)
        if bar < BARS - 1:
            for step in range(8):
                tick = start + step * eighth
                if bar == 1 and step == 7:
                    hit(tick, OPEN_HAT, 90)
                else:
                    hit(tick, CLOSED_HAT, 96 if step % 2 == 0 else 70)
            hit(start, KICK, 112)
            hit(start + 2 * TPQ, KICK, 104)
            hit(start + 3 * TPQ + eighth, KICK, 88)
            hit(start + TPQ, SNARE, 110)
            hit(start + 3 * TPQ, SNARE, 114)
            hit(start + 2 * TPQ + 3 * sixteenth, SNARE, 38)  # ghost note
        else:  # fill: two beats of groove, then 16th-note toms down the kit, last hit ends at 10 s
            hit(start, KICK, 112)
            hit(start, CLOSED_HAT, 96)
            hit(start + TPQ, SNARE, 110)
            hit(start + eighth, CLOSED_HAT, 70)
            fill = [SNARE, SNARE, HIGH_TOM, HIGH_TOM, MID_TOM, MID_TOM, LOW_TOM, LOW_TOM]
            for i, pitch in enumerate(fill):
                hit(start + 2 * TPQ + i * sixteenth, pitch, 90 + 3 * i)
                if i % 2 == 0:
                    hit(start + 2 * TPQ + i * sixteenth, KICK, 80)
    score.tracks.append(track)
    return score


def main() -> None:
    score = build_groove()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(OUT))
    seconds = score.to("second").end()
    print(f"wrote {OUT} ({score.note_num()} notes, {seconds:.2f} s)")


if __name__ == "__main__":
    main()
