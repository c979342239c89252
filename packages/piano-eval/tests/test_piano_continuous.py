"""S3: multi-scale CNN + Transformer over continuous MIDI features, wav2vec-style pretraining."""

from __future__ import annotations

import lightning as L
import pytest
import symusic
import torch
from piano_eval.heads import HeadConfig
from piano_eval.symbolic.continuous import (
    ContinuousPerformanceModel,
    GumbelCodebook,
    collate_continuous_features,
    features_from_midi,
    span_mask,
)
from piano_eval.testing import make_synthetic_pair_loader
from shared_audio_core.tokenize import CONTINUOUS_FEATURE_NAMES
from torch.utils.data import DataLoader

SMALL = {
    "encoder_dim": 32,
    "num_layers": 1,
    "num_heads": 2,
    "code_dim": 16,
    "codebook_entries": 8,
    "encoder_dropout": 0.0,
    "head": HeadConfig(hidden_dim=32, projection_dim=16, num_dimensions=3, dropout=0.0),
}


def _score() -> symusic.Score:
    score = symusic.Score(480)  # 120 bpm default: 960 ticks per second
    track = symusic.Track(program=0)
    for i, pitch in enumerate([60, 64, 67, 72, 67, 64]):
        track.notes.append(symusic.Note(i * 480, 480, pitch, 60 + 8 * i))
    score.tracks.append(track)
    return score


def _patterns(count: int = 8, frames: int = 40, seed: int = 1) -> torch.Tensor:
    """Feature sequences with local structure the CNN/Transformer can predict."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(frames).float()
    rows = []
    for i in range(count):
        f = torch.stack(
            [
                torch.sin(t / (2 + i % 3)),
                (t % 7 == 0).float(),
                torch.cos(t / 5) * 2,
                (t % 11 < 5).float(),
                t % 7 / 10,
                (t % 4).float(),
                (t % 7 == 0).float(),
            ],
            -1,
        )
        rows.append(f + 0.05 * torch.randn(frames, 7, generator=generator))
    return torch.stack(rows)


def test_encodes_real_midi_features_from_the_core() -> None:
    features = features_from_midi(_score(), frame_rate=50)
    assert features.shape == (150, len(CONTINUOUS_FEATURE_NAMES))  # 3 s at 50 Hz
    assert features.dtype == torch.float32
    # One note every 0.5 s (25 frames): pitch and onset velocity of note i show at its onset frame.
    pitch, velocity = (
        CONTINUOUS_FEATURE_NAMES.index("mean_pitch"),
        CONTINUOUS_FEATURE_NAMES.index("max_onset_velocity"),
    )
    onsets = features[::25]
    torch.testing.assert_close(onsets[:, pitch] * 127, torch.tensor([60.0, 64, 67, 72, 67, 64]))
    torch.testing.assert_close(onsets[:, velocity] * 127, torch.tensor([60.0, 68, 76, 84, 92, 100]))
    model = ContinuousPerformanceModel(**SMALL).eval()
    out = model(collate_continuous_features([features]))
    assert out.scores.shape == (1, 3) and ((out.scores > 0) & (out.scores < 1)).all()


def test_padded_positions_do_not_change_outputs() -> None:
    torch.manual_seed(0)
    model = ContinuousPerformanceModel(**SMALL).eval()
    clip = _patterns(1, 25)
    alone = model.encode({"features": clip, "mask": torch.ones(1, 25, dtype=torch.bool)})[0]
    batch = torch.randn(2, 40, 7) * 10  # garbage in the padding
    batch[0, :25] = clip[0]
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[0, 25:] = False
    padded = model.encode({"features": batch, "mask": mask})[0]
    torch.testing.assert_close(padded[0, :25], alone[0], atol=1e-5, rtol=1e-5)
    assert torch.equal(padded[0, 25:], torch.zeros(15, 32))
    scores_alone = model.predict_scores({"features": clip, "mask": torch.ones(1, 25, dtype=torch.bool)})
    torch.testing.assert_close(model.predict_scores({"features": batch, "mask": mask})[0], scores_alone[0])


def test_span_mask_only_covers_valid_frames() -> None:
    mask = torch.ones(3, 30, dtype=torch.bool)
    mask[1, 12:] = False
    mask[2, 1:] = False  # a single valid frame cannot be masked and predicted
    chosen = span_mask(mask, mask_prob=0.5, span=4, generator=torch.Generator().manual_seed(0))
    assert not (chosen & ~mask).any()
    assert chosen[0].sum() >= 4 and chosen[1].sum() >= 4
    assert not chosen[2].any()


def test_codebook_picks_one_entry_per_group_in_eval_mode() -> None:
    torch.manual_seed(0)
    codebook = GumbelCodebook(input_dim=8, code_dim=6, groups=2, entries=5).eval()
    q, diversity = codebook(torch.randn(2, 4, 8), torch.ones(2, 4, dtype=torch.bool), temperature=1.0)
    first_group = codebook.codevectors[0]
    for vector in q.reshape(-1, 2, 3)[:, 0]:
        assert any(torch.equal(vector, entry) for entry in first_group)
    assert 0.0 <= float(diversity) <= 1.0


def test_contrastive_pretraining_loss_decreases() -> None:
    torch.manual_seed(0)
    model = ContinuousPerformanceModel(stage="pretrain", **SMALL)
    features = _patterns()
    mask = torch.ones(features.shape[:2], dtype=torch.bool)
    mask[3, 30:] = False
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(50):
        losses = model.contrastive_losses(features, mask)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        history.append(losses["contrastive"].item())
    assert sum(history[-5:]) / 5 < 0.75 * sum(history[:5]) / 5
    with pytest.raises(ValueError, match="no masked frames"):
        model.contrastive_losses(features, mask, torch.zeros_like(mask))


def test_finetune_stage_learns_a_separable_pair_problem() -> None:
    torch.manual_seed(0)
    model = ContinuousPerformanceModel(learning_rate=3e-3, **SMALL)
    batch = next(iter(make_synthetic_pair_loader(batch_size=16, feature_dim=7, num_dimensions=3, seed=0)))
    optimizer = model.configure_optimizers()
    first = model.pair_losses(batch)[0]["total"].item()
    for _ in range(40):
        optimizer.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.6 * first


def test_trainer_smoke_pretrain_then_finetune_and_hub_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = ContinuousPerformanceModel(stage="pretrain", **SMALL)
    sequences = list(_patterns())
    pretrain = DataLoader(sequences, batch_size=4, collate_fn=collate_continuous_features)
    fit_args = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    L.Trainer(max_steps=3, **fit_args).fit(model, pretrain)
    model.set_stage("finetune")
    pairs = make_synthetic_pair_loader(batch_size=8, feature_dim=7, num_dimensions=3)
    trainer = L.Trainer(max_steps=3, **fit_args)
    trainer.fit(model, pairs)
    assert torch.isfinite(trainer.callback_metrics["train/total"])
    model.save_pretrained(tmp_path / "s3")
    loaded = ContinuousPerformanceModel.from_pretrained(tmp_path / "s3").eval()
    assert loaded.stage == "finetune"
    part = collate_continuous_features(sequences[:2])
    torch.testing.assert_close(loaded.predict_scores(part), model.eval().predict_scores(part))
