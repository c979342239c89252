"""S1 REMI Transformer: masking statistics, padding invariance, MLM and finetuning smoke training, hub."""

import math

import pytest
import torch
from piano_eval.heads import HeadConfig
from piano_eval.symbolic.remi_transformer import (
    IGNORE_INDEX,
    RemiTransformerEncoder,
    RemiTransformerModule,
    collate_token_parts,
    make_remi_pair_collate,
    mask_tokens,
    tokenize_midi_files,
)
from piano_eval.testing import TrainingProbe, make_smoke_trainer
from piano_eval.training import PerformancePairDataset
from torch.utils.data import DataLoader

PAD, BOS, EOS, MASK = 0, 1, 2, 3
SPECIALS = [PAD, BOS, EOS, MASK]
VOCAB = 24


def test_mask_tokens_statistics_80_10_10_and_labels_off_mask():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(4, VOCAB, (64, 512), generator=gen)
    ids[:, 0], ids[:, -1] = BOS, EOS
    attention = torch.ones_like(ids, dtype=torch.bool)
    attention[:, 400:] = False
    ids[:, 400:] = PAD
    masked, labels = mask_tokens(
        ids, attention, mask_id=MASK, vocab_size=VOCAB, special_ids=SPECIALS, generator=gen
    )
    picked = labels != IGNORE_INDEX
    maskable = attention & ~torch.isin(ids, torch.tensor(SPECIALS))
    assert not picked[~maskable].any()  # never pad / BOS / EOS
    assert picked.sum() / maskable.sum() == pytest.approx(0.15, abs=0.01)
    assert torch.equal(labels[picked], ids[picked])  # labels are the original ids
    assert torch.equal(masked[~picked], ids[~picked])  # unpicked positions untouched
    n = picked.sum().item()
    to_mask = (masked == MASK) & picked
    changed = (masked != ids) & picked & ~to_mask
    kept = (masked == ids) & picked
    assert to_mask.sum() / n == pytest.approx(0.8, abs=0.02)
    # Random replacements can hit the original id (1 in 20 here), so "random" ≈ 0.1·19/20.
    assert changed.sum() / n == pytest.approx(0.1 * 19 / 20, abs=0.015)
    assert kept.sum() / n == pytest.approx(0.1 + 0.1 / 20, abs=0.015)
    assert not torch.isin(masked[changed], torch.tensor(SPECIALS)).any()


def test_mask_tokens_validates_probability():
    with pytest.raises(ValueError, match="mlm_probability"):
        mask_tokens(
            torch.ones(1, 3, dtype=torch.long),
            torch.ones(1, 3),
            mask_id=MASK,
            vocab_size=VOCAB,
            mlm_probability=0.0,
        )


def test_encoder_padding_does_not_change_valid_states_and_checks_inputs():
    torch.manual_seed(0)
    enc = RemiTransformerEncoder(
        VOCAB, PAD, d_model=16, num_heads=2, num_layers=2, dim_feedforward=32, max_seq_len=32
    ).eval()
    batch = collate_token_parts([[1, 5, 6, 7, 2], [1, 8, 2]], pad_id=PAD)
    hidden = enc(batch["input_ids"], batch["attention_mask"])
    alone = enc(torch.tensor([[1, 8, 2]]))
    assert torch.allclose(hidden[1, :3], alone[0], atol=1e-5)
    ids2 = batch["input_ids"].clone()
    ids2[1, 3:] = 9  # garbage under the padding mask
    assert torch.allclose(enc(ids2, batch["attention_mask"])[1, :3], hidden[1, :3], atol=1e-5)
    with pytest.raises(ValueError, match="max_seq_len"):
        enc(torch.ones(1, 40, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids"):
        enc(torch.tensor([[1, VOCAB]]))


def _pattern_sequences(n: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Sequences of (x, x+10) token pairs: the masked partner of any token is predictable."""
    out = []
    for _ in range(n):
        firsts = torch.randint(4, 14, (6,), generator=gen)
        body = torch.stack([firsts, firsts + 10], dim=1).flatten()
        out.append(torch.cat([torch.tensor([BOS]), body, torch.tensor([EOS])]))
    return out


def test_mlm_pretraining_smoke_training_reduces_loss():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    seqs = _pattern_sequences(64, gen)
    loader = DataLoader(seqs, batch_size=16, shuffle=True, collate_fn=lambda s: collate_token_parts(s, PAD))
    module = RemiTransformerModule(
        VOCAB,
        PAD,
        MASK,
        SPECIALS,
        d_model=32,
        num_heads=2,
        num_layers=2,
        dim_feedforward=64,
        encoder_dropout=0.0,
        max_seq_len=32,
        stage="pretrain",
        mlm_probability=0.3,
        head=HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=2),
        learning_rate=3e-3,
    )
    fixed = collate_token_parts(seqs[:32], PAD)
    masked, labels = mask_tokens(
        fixed["input_ids"],
        fixed["attention_mask"],
        mask_id=MASK,
        vocab_size=VOCAB,
        special_ids=SPECIALS,
        mlm_probability=0.3,
        generator=gen,
    )
    eval_batch = {"input_ids": masked, "attention_mask": fixed["attention_mask"], "labels": labels}
    module.eval()
    with torch.no_grad():
        before = module.mlm_step(eval_batch).item()
    make_smoke_trainer(max_steps=40).fit(module, loader)
    module.eval()
    with torch.no_grad():
        after = module.mlm_step(eval_batch).item()
    assert after < 0.6 * before


def _quality_sequences(gen: torch.Generator):
    """Token sequences whose share of 'high' tokens (14..23) is the first label; length is the second."""
    seqs, labels, pieces = [], [], []
    for piece in range(3):
        for _ in range(4):
            q = torch.rand(2, generator=gen)
            length = 6 + int(q[1] * 10)
            high = torch.rand(length, generator=gen) < q[0]
            body = torch.where(
                high,
                torch.randint(14, 24, (length,), generator=gen),
                torch.randint(4, 14, (length,), generator=gen),
            )
            seqs.append(torch.cat([torch.tensor([BOS]), body, torch.tensor([EOS])]))
            labels.append(q)
            pieces.append(piece)
    return seqs, torch.stack(labels), torch.tensor(pieces)


def test_finetune_smoke_training_reduces_pair_loss_and_comparator_is_antisymmetric():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    seqs, labels, pieces = _quality_sequences(gen)
    dataset = PerformancePairDataset(seqs, labels, pieces)
    collate = make_remi_pair_collate(PAD, max_len=32)
    loader = DataLoader(
        dataset, batch_size=12, shuffle=True, collate_fn=collate, generator=torch.Generator().manual_seed(0)
    )
    module = RemiTransformerModule(
        VOCAB,
        PAD,
        MASK,
        SPECIALS,
        d_model=32,
        num_heads=2,
        num_layers=1,
        dim_feedforward=64,
        encoder_dropout=0.0,
        max_seq_len=32,
        head=HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=2, dropout=0.0),
        learning_rate=3e-3,
    )
    batch = collate([dataset[i] for i in range(len(dataset))])
    module.eval()
    with torch.no_grad():
        before = module.pair_losses(batch)[0]["total"].item()
    make_smoke_trainer(max_steps=30).fit(module, loader)
    module.eval()
    with torch.no_grad():
        losses, _ = module.pair_losses(batch)
        ab = module.compare(batch["a"], batch["b"])
        ba = module.compare(batch["b"], batch["a"])
    assert losses["total"].item() < 0.8 * before
    assert torch.allclose(ab, -ba, atol=1e-5)


def test_encoder_hub_round_trip_and_pretrained_loading_into_module(tmp_path):
    torch.manual_seed(0)
    enc = RemiTransformerEncoder(
        VOCAB, PAD, d_model=16, num_heads=2, num_layers=1, dim_feedforward=32, max_seq_len=16
    ).eval()
    enc.save_pretrained(tmp_path / "s1")
    card = (tmp_path / "s1" / "README.md").read_text()
    assert "RemiTransformerEncoder" in card and "remi" in card
    loaded = RemiTransformerEncoder.from_pretrained(tmp_path / "s1", strict=True).eval()
    ids = torch.tensor([[1, 5, 9, 2]])
    assert torch.equal(loaded(ids), enc(ids))
    module = RemiTransformerModule(
        VOCAB,
        PAD,
        MASK,
        d_model=16,
        pretrained_encoder=str(tmp_path / "s1"),
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2),
    )
    module.encoder.eval()
    assert torch.equal(module.encoder(ids), enc(ids))
    with pytest.raises(ValueError, match="expected"):
        RemiTransformerModule(VOCAB + 1, PAD, MASK, d_model=16, pretrained_encoder=str(tmp_path / "s1"))


def test_module_from_core_tokenizer_encodes_a_real_midi_score():
    import symusic
    from shared_audio_core.tokenize import PianoTokenizer

    score = symusic.Score(480)
    track = symusic.Track(program=0)
    for pitch, start, duration in [(60, 0, 480), (64, 0, 960), (67, 240, 240), (72, 480, 480)]:
        track.notes.append(symusic.Note(start, duration, pitch, 80))
    score.tracks.append(track)
    tokenizer = PianoTokenizer()
    ids = torch.tensor(tokenizer.encode(score))
    module = RemiTransformerModule.from_tokenizer(
        tokenizer,
        d_model=16,
        num_heads=2,
        num_layers=1,
        dim_feedforward=32,
        max_seq_len=64,
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=19),
    ).eval()
    assert module.mask_id == tokenizer.mask_id and module.encoder.vocab_size == tokenizer.vocab_size
    scores = module.predict_scores(collate_token_parts([ids], tokenizer.pad_id))
    assert scores.shape == (1, 19) and ((scores > 0) & (scores < 1)).all()


def test_module_components_round_trip(tmp_path):
    torch.manual_seed(0)
    kwargs = dict(
        d_model=16,
        num_heads=2,
        num_layers=1,
        dim_feedforward=32,
        max_seq_len=16,
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2),
    )
    module = RemiTransformerModule(VOCAB, PAD, MASK, SPECIALS, **kwargs).eval()
    module.save_components(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder", "scorer"]
    other = RemiTransformerModule(VOCAB, PAD, MASK, SPECIALS, **kwargs).eval()
    other.load_components(tmp_path)
    part = collate_token_parts([[1, 5, 9, 2]], PAD)
    assert torch.equal(other.predict_scores(part), module.predict_scores(part))


def test_tokenize_midi_files_with_core_tokenizer(tmp_path):
    import symusic
    from shared_audio_core.tokenize import PianoTokenizer

    paths = []
    for k, n in enumerate((3, 6)):
        score = symusic.Score(480)
        track = symusic.Track(program=0)
        for i in range(n):
            track.notes.append(symusic.Note(240 * i, 240, 60 + i, 80))
        score.tracks.append(track)
        paths.append(tmp_path / f"p{k}.mid")
        score.dump_midi(str(paths[-1]))
    tokenizer = PianoTokenizer()
    ids = tokenize_midi_files(paths, tokenizer)
    assert ids[0][0] == tokenizer.bos_id and ids[0][-1] == tokenizer.eos_id
    assert [sum(tokenizer.id_to_token(int(t)).startswith("Pitch") for t in seq) for seq in ids] == [3, 6]
    assert [len(seq) for seq in tokenize_midi_files(paths, tokenizer, max_len=12)] == [
        min(len(ids[0]), 12),
        12,
    ]


def test_pretrain_then_finetune_switches_the_training_objective():
    torch.manual_seed(0)
    module = RemiTransformerModule(
        VOCAB,
        PAD,
        MASK,
        SPECIALS,
        d_model=16,
        num_heads=2,
        num_layers=1,
        dim_feedforward=32,
        max_seq_len=32,
        stage="pretrain",
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2),
    )
    module.eval()  # no dropout: losses are deterministic
    tokens = collate_token_parts([[1, 5, 15, 6, 16, 2], [1, 7, 17, 2]], PAD)
    pair = {
        "a": tokens,
        "b": tokens,
        "labels_a": torch.tensor([[0.9, 0.2], [0.1, 0.5]]),
        "labels_b": torch.tensor([[0.1, 0.8], [0.6, 0.5]]),
        "piece_ids_a": torch.tensor([0, 1]),
        "piece_ids_b": torch.tensor([0, 1]),
    }
    # Pretraining: MLM cross-entropy over the labelled positions only (-100 elsewhere).
    labels = torch.full_like(tokens["input_ids"], -100)
    labels[0, 2] = 15
    masked = dict(tokens, input_ids=tokens["input_ids"].clone(), labels=labels)
    masked["input_ids"][0, 2] = MASK
    logits = module.encoder.mlm_logits(module.encoder(masked["input_ids"], tokens["attention_mask"].bool()))
    expected = -torch.log_softmax(logits[0, 2], dim=-1)[15]
    assert module.training_step(masked, 0).item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(KeyError):
        module.training_step(pair, 0)  # a pair batch is not a pretraining batch
    module.switch_to_finetune()
    # Finetuning: the shared objective. Identical sides give zero ranking logits (antisymmetric comparator),
    # so the ranking BCE over the three unambiguous pairs is exactly ln 2.
    losses, outputs = module.pair_losses(pair)
    assert torch.equal(outputs["logits"], torch.zeros(2, 2))
    assert losses["ranking"].item() == pytest.approx(math.log(2), rel=1e-6)
    assert module.training_step(pair, 0).item() == pytest.approx(losses["total"].item(), rel=1e-6)
    with pytest.raises(KeyError):
        module.training_step(tokens, 0)  # a token batch is no longer a valid finetuning batch


def _tiny_module(**kwargs):
    sizes = dict(d_model=16, num_heads=2, num_layers=1, dim_feedforward=32, max_seq_len=32)
    return RemiTransformerModule(
        VOCAB,
        PAD,
        MASK,
        SPECIALS,
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2),
        **sizes,
        **kwargs,
    )


def test_a_pretrained_encoder_finetunes_with_dropout_active(tmp_path):
    """``from_pretrained`` returns eval mode and Lightning's fit keeps each submodule's mode, so a loaded
    encoder must be put back into train mode with the module, or it fine-tunes with dropout off."""
    torch.manual_seed(0)
    RemiTransformerEncoder(
        VOCAB, PAD, d_model=16, num_heads=2, num_layers=1, dim_feedforward=32, dropout=0.5, max_seq_len=32
    ).save_pretrained(tmp_path / "s1")
    module = _tiny_module(pretrained_encoder=str(tmp_path / "s1"))
    seqs, labels, pieces = _quality_sequences(torch.Generator().manual_seed(0))
    loader = DataLoader(
        PerformancePairDataset(seqs, labels, pieces), batch_size=6, collate_fn=make_remi_pair_collate(PAD, 32)
    )

    def dropout_active(module, batch):
        ids, mask = batch["a"]["input_ids"], batch["a"]["attention_mask"]
        with torch.no_grad():
            differs = not torch.equal(module.encoder(ids, mask), module.encoder(ids, mask))
        return all(m.training for m in module.encoder.modules()), differs

    probe = TrainingProbe(dropout_active)
    make_smoke_trainer(max_steps=2, callbacks=[probe]).fit(module, loader)
    assert probe.records == [(True, True), (True, True)]
    module.eval()
    assert not any(m.training for m in module.encoder.modules())


def test_switch_to_finetune_survives_a_lightning_checkpoint(tmp_path):
    torch.manual_seed(0)
    module = _tiny_module(stage="pretrain")
    seqs = _pattern_sequences(8, torch.Generator().manual_seed(0))
    trainer = make_smoke_trainer(max_steps=1)
    trainer.fit(module, DataLoader(seqs, batch_size=4, collate_fn=lambda s: collate_token_parts(s, PAD)))
    module.switch_to_finetune()
    trainer.save_checkpoint(tmp_path / "s1.ckpt")
    restored = RemiTransformerModule.load_from_checkpoint(tmp_path / "s1.ckpt", weights_only=True)
    assert restored.stage == "finetune"
    assert restored.hparams["stage"] == "finetune"
