"""Layer selection, 30 s chunking with frame masks, the sample-rate guard and file embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from piano_eval.audio import (
    AudioEncoder,
    ChunkingConfig,
    LayerSelection,
    LayerSelectionError,
    LogMelBackbone,
    SampleRateMismatchError,
    Waveforms,
    merge_chunk_frames,
    split_into_chunks,
)
from piano_eval.heads import AttentionPooling
from shared_audio_core.audio import write_audio


@pytest.fixture(scope="module")
def backbone() -> LogMelBackbone:
    torch.manual_seed(0)
    return LogMelBackbone(hidden_size=32, num_layers=3, num_heads=2, n_mels=32).eval()


def test_layer_selection_single_mean_and_concat_values() -> None:
    states = tuple(torch.full((1, 2, 3), float(i)) for i in range(5))
    assert torch.equal(LayerSelection.single(3).apply(states), states[3])
    assert torch.allclose(LayerSelection.mean_range(1, 4).apply(states), torch.full((1, 2, 3), 2.5))
    concat = LayerSelection.concat([1, 4]).apply(states)
    assert concat.shape == (1, 2, 6)
    assert concat[0, 0].tolist() == [1.0, 1.0, 1.0, 4.0, 4.0, 4.0]
    assert LayerSelection.concat([1, 4]).output_dim(3) == 6
    assert LayerSelection.from_dict(LayerSelection.mean_range(9, 12).to_dict()) == LayerSelection.mean_range(
        9, 12
    )


def test_layer_selection_rejects_bad_configurations() -> None:
    with pytest.raises(LayerSelectionError, match="out of range"):
        LayerSelection.single(7).apply(tuple(torch.zeros(1, 1, 1) for _ in range(4)))
    with pytest.raises(LayerSelectionError, match="exactly one"):
        LayerSelection(mode="single", layers=(1, 2))
    with pytest.raises(LayerSelectionError, match="duplicate"):
        LayerSelection(mode="mean", layers=(2, 2))


def test_split_pads_and_masks_the_last_chunk_and_zeroes_padding() -> None:
    wave = torch.arange(1, 11, dtype=torch.float32).repeat(2, 1)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 7:] = False
    chunks = split_into_chunks(wave, mask, chunk_samples=4)
    assert chunks.chunks_per_item == 3
    assert chunks.samples.shape == (6, 4)
    assert chunks.mask[2].tolist() == [True, True, False, False]  # item 0: 10 samples -> 4 + 4 + 2
    assert chunks.mask[5].tolist() == [False] * 4  # item 1: 7 samples, third chunk empty
    assert chunks.has_audio.tolist() == [True, True, True, True, True, False]
    assert chunks.samples[4].tolist() == [5.0, 6.0, 7.0, 0.0]  # masked sample 8 zeroed


def test_merge_concatenates_chunk_frames_and_trims_to_longest_valid() -> None:
    frames = torch.arange(4 * 3, dtype=torch.float32).reshape(4, 3, 1)
    frame_mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    merged, mask = merge_chunk_frames(frames, frame_mask, batch_size=2, chunks_per_item=2)
    assert mask.tolist() == [[True, True, True, True], [True, True, True, False]]
    assert merged[0, :, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert merged[1, 3, 0].item() == 0.0  # masked frames are zeroed


def test_chunked_encoding_equals_encoding_each_chunk_separately(backbone) -> None:
    encoder = AudioEncoder(backbone, LayerSelection.mean_range(2, 3), ChunkingConfig(chunk_seconds=0.25))
    audio = torch.randn(1, 15_000)  # 0.625 s -> chunks of 6000, 6000, 3000 samples
    features, mask = encoder(audio, sample_rate=24_000)
    pieces = [encoder(audio[:, s : s + 6000], sample_rate=24_000)[0][0] for s in (0, 6000, 12_000)]
    assert int(mask.sum()) == sum(p.shape[0] for p in pieces) == 13 + 13 + 7
    torch.testing.assert_close(features[0, mask[0]], torch.cat(pieces), atol=1e-5, rtol=1e-5)


def test_padded_frames_are_masked_and_do_not_change_the_pooled_output(backbone) -> None:
    encoder = AudioEncoder(backbone, LayerSelection.single(3), ChunkingConfig(chunk_seconds=0.25))
    pooling = AttentionPooling(encoder.output_dim).eval()
    clip = torch.randn(1, 9000)
    alone, alone_mask = encoder(clip, sample_rate=24_000)
    batch = torch.randn(2, 20_000)
    batch[0, :9000] = clip[0]
    mask = torch.ones_like(batch, dtype=torch.bool)
    mask[0, 9000:] = False
    features, frame_mask = encoder(Waveforms(batch, mask, 24_000))
    assert frame_mask[0].sum() == alone_mask.sum() and not frame_mask[0, int(alone_mask.sum()) :].any()
    pooled_alone, _ = pooling(alone, alone_mask)
    pooled_batch, _ = pooling(features, frame_mask)
    torch.testing.assert_close(pooled_batch[0], pooled_alone[0], atol=1e-5, rtol=1e-5)
    # Changing a masked frame's value leaves the pooled output unchanged; changing a valid one does not.
    tampered = features.clone()
    tampered[0, -1] = 100.0
    torch.testing.assert_close(pooling(tampered, frame_mask)[0][0], pooled_batch[0])
    tampered[0, 0] = 100.0
    assert not torch.allclose(pooling(tampered, frame_mask)[0][0], pooled_batch[0])


def test_max_chunks_per_forward_does_not_change_results(backbone) -> None:
    audio = torch.randn(2, 30_000)
    small = AudioEncoder(backbone, chunking=ChunkingConfig(chunk_seconds=0.2, max_chunks_per_forward=1))
    large = AudioEncoder(backbone, chunking=ChunkingConfig(chunk_seconds=0.2, max_chunks_per_forward=16))
    a, mask_a = small(audio, sample_rate=24_000)
    b, mask_b = large(audio, sample_rate=24_000)
    assert torch.equal(mask_a, mask_b)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_wrong_sample_rate_is_refused_and_resampling_fixes_it(backbone) -> None:
    encoder = AudioEncoder(backbone)
    with pytest.raises(SampleRateMismatchError, match="expects 24000 Hz"):
        encoder(torch.randn(1, 16_000), sample_rate=16_000)
    with pytest.raises(SampleRateMismatchError, match="sample_rate"):
        encoder(torch.randn(1, 16_000))
    batch = Waveforms.from_arrays(
        [np.zeros(16_000, np.float32), np.zeros(8000, np.float32)], 16_000, target_rate=24_000
    )
    assert batch.sample_rate == 24_000
    assert batch.mask.sum(1).tolist() == [24_000, 12_000]
    _, mask = encoder(batch)
    assert mask.sum(1).tolist() == [50, 25]


def test_embed_file_resamples_to_the_backbone_rate(backbone, tmp_path) -> None:
    encoder = AudioEncoder(backbone, LayerSelection.mean_range(1, 3))
    t = np.arange(16_000) / 16_000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = write_audio(tmp_path / "tone.wav", tone, 16_000)
    from_file = encoder.embed_file(path)
    assert from_file.shape == (50, 32)  # 1 s at 24 kHz, 480-sample hop
    from_array = encoder.embed_audio(tone, 16_000)
    torch.testing.assert_close(from_file, from_array, atol=1e-3, rtol=1e-3)


def test_empty_or_too_short_items_raise_clear_errors(tmp_path) -> None:
    from piano_eval.audio import build_backbone
    from piano_eval.audio.chunking import ChunkingError
    from piano_eval.audio.testing import save_tiny_audio_model

    encoder = AudioEncoder(build_backbone(str(save_tiny_audio_model(tmp_path / "w2v2", "wav2vec2"))))
    mask = torch.ones(2, 2000, dtype=torch.bool)
    mask[1, 10:] = False  # 10 samples: shorter than the conv front-end's receptive field
    with pytest.raises(ChunkingError, match=r"items \[1\] are too short"):
        encoder(torch.randn(2, 2000), mask, sample_rate=24_000)
    with pytest.raises(ChunkingError, match="no valid audio"):
        encoder(torch.randn(1, 2000), torch.zeros(1, 2000, dtype=torch.bool), sample_rate=24_000)
