"""S2 score-graph GNNs: relations, batching invariance, link-prediction and finetuning smoke training, hub."""

import pytest
import symusic
import torch
from piano_eval.heads import HeadConfig
from piano_eval.symbolic.gnn import (
    RELATIONS,
    HeteroScoreGraphEncoder,
    ScoreGraphEncoder,
    ScoreGraphModule,
    add_reverse_relations,
    link_prediction_loss,
    make_graph_pair_collate,
)
from piano_eval.symbolic.graph import collate_graph_parts, midi_to_graph
from piano_eval.testing import TrainingProbe, make_smoke_trainer
from piano_eval.training import PerformancePairDataset
from torch.utils.data import DataLoader


def _random_score(
    gen: torch.Generator, velocity_level: float = 0.5, legato: float = 0.5, num_notes: int = 10
):
    """Notes on an eighth-note grid; velocity tracks ``velocity_level`` and duration tracks ``legato``."""
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    for _ in range(num_notes):
        start = int(torch.randint(0, 16, (1,), generator=gen)) * 240
        duration = 120 + int(legato * 3) * 120
        pitch = int(torch.randint(48, 84, (1,), generator=gen))
        velocity = int(30 + 80 * velocity_level + int(torch.randint(-5, 6, (1,), generator=gen)))
        track.notes.append(symusic.Note(start, duration, pitch, velocity))
    score.tracks.append(track)
    return score


def test_add_reverse_relations_reverses_only_directed_types():
    edge_index = torch.tensor([[0, 1, 0, 2], [1, 0, 2, 3]])
    edge_type = torch.tensor([0, 0, 1, 3])  # onset, onset, during, silence
    ei, et = add_reverse_relations(edge_index, edge_type)
    assert RELATIONS[et[-2]] == "rev_during" and ei[:, -2].tolist() == [2, 0]
    assert RELATIONS[et[-1]] == "rev_silence" and ei[:, -1].tolist() == [3, 2]
    assert ei.shape[1] == 6
    with pytest.raises(ValueError, match="edge_type ids"):
        add_reverse_relations(edge_index, torch.tensor([0, 0, 1, 7]))


@pytest.mark.parametrize("encoder_class", [ScoreGraphEncoder, HeteroScoreGraphEncoder])
def test_encoders_give_same_node_embeddings_alone_and_in_a_batch(encoder_class):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    g1, g2 = midi_to_graph(_random_score(gen)), midi_to_graph(_random_score(gen, num_notes=6))
    enc = encoder_class(hidden_dim=16, num_layers=2, num_heads=2, dropout=0.0).eval()
    batch = collate_graph_parts([g1, g2])
    h_batch = enc(batch.x, batch.edge_index, batch.edge_type)
    h_alone = enc(g2.x, g2.edge_index, g2.edge_type)
    assert torch.allclose(h_batch[g1.num_nodes :], h_alone, atol=1e-5)
    # Edges matter: dropping them changes the embeddings.
    h_no_edges = enc(g2.x, torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert not torch.allclose(h_no_edges, h_alone, atol=1e-3)
    # Edge types matter too: the same edges relabelled (onset <-> during, follow <-> silence) differ.
    relabelled = g2.edge_type ^ 1
    assert not torch.allclose(enc(g2.x, g2.edge_index, relabelled), h_alone, atol=1e-3)
    with pytest.raises(ValueError, match="node features"):
        enc(g2.x[:, :5], g2.edge_index, g2.edge_type)


def test_module_encode_pads_graphs_and_masked_nodes_do_not_change_scores():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    g1, g2 = midi_to_graph(_random_score(gen)), midi_to_graph(_random_score(gen, num_notes=5))
    module = ScoreGraphModule(
        gnn_hidden_dim=16,
        num_gnn_layers=2,
        num_gat_heads=2,
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=3),
    ).eval()
    _, mask = module.encode(collate_graph_parts([g1, g2]))
    assert mask.sum(dim=1).tolist() == [g1.num_nodes, g2.num_nodes]
    both = module.predict_scores(collate_graph_parts([g1, g2]))
    alone = module.predict_scores(collate_graph_parts([g2]))
    assert torch.allclose(both[1], alone[0], atol=1e-5)


@pytest.mark.parametrize("heterogeneous", [False, True])
def test_link_prediction_pretraining_smoke_training_reduces_loss(heterogeneous):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    graphs = [
        midi_to_graph(_random_score(gen, legato=float(torch.rand(1, generator=gen)))) for _ in range(24)
    ]
    loader = DataLoader(graphs, batch_size=8, shuffle=True, collate_fn=collate_graph_parts)
    module = ScoreGraphModule(
        gnn_hidden_dim=32,
        num_gnn_layers=2,
        num_gat_heads=2,
        gnn_dropout=0.0,
        heterogeneous=heterogeneous,
        stage="pretrain",
        link_mask_ratio=0.3,
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2),
        learning_rate=1e-2,
    )
    eval_batch = collate_graph_parts(graphs)

    def loss_now():
        module.eval()
        with torch.no_grad():
            return (
                torch.stack(
                    [
                        link_prediction_loss(
                            module.encoder, eval_batch, 0.3, torch.Generator().manual_seed(s)
                        )
                        for s in range(4)
                    ]
                )
                .mean()
                .item()
            )

    before = loss_now()
    make_smoke_trainer(max_steps=25).fit(module, loader)
    assert loss_now() < 0.8 * before


def test_finetune_smoke_training_on_planted_velocity_and_legato():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(3)
    graphs, labels, pieces = [], [], []
    for piece in range(3):
        for _ in range(4):
            q = torch.rand(2, generator=gen)
            graphs.append(
                midi_to_graph(_random_score(gen, velocity_level=float(q[0]), legato=float(q[1]), num_notes=8))
            )
            labels.append(q)
            pieces.append(piece)
    dataset = PerformancePairDataset(graphs, torch.stack(labels), torch.tensor(pieces))
    collate = make_graph_pair_collate()
    loader = DataLoader(
        dataset, batch_size=12, shuffle=True, collate_fn=collate, generator=torch.Generator().manual_seed(0)
    )
    module = ScoreGraphModule(
        gnn_hidden_dim=16,
        num_gnn_layers=2,
        num_gat_heads=2,
        gnn_dropout=0.0,
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
        after = module.pair_losses(batch)[0]["total"].item()
        ab, ba = module.compare(batch["a"], batch["b"]), module.compare(batch["b"], batch["a"])
    assert after < 0.8 * before
    assert torch.allclose(ab, -ba, atol=1e-5)


@pytest.mark.parametrize("encoder_class", [ScoreGraphEncoder, HeteroScoreGraphEncoder])
def test_graph_encoder_hub_round_trip(tmp_path, encoder_class):
    torch.manual_seed(0)
    enc = encoder_class(hidden_dim=8, num_layers=1, num_heads=2, dropout=0.0).eval()
    enc.save_pretrained(tmp_path)
    assert "score-graph" in (tmp_path / "README.md").read_text()
    loaded = encoder_class.from_pretrained(tmp_path, strict=True).eval()
    g = midi_to_graph(_random_score(torch.Generator().manual_seed(0)))
    assert torch.equal(loaded(g.x, g.edge_index, g.edge_type), enc(g.x, g.edge_index, g.edge_type))
    module = ScoreGraphModule(
        gnn_hidden_dim=8,
        heterogeneous=encoder_class is HeteroScoreGraphEncoder,
        pretrained_encoder=str(tmp_path),
        head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2),
    )
    module.encoder.eval()
    assert torch.equal(module.encoder(g.x, g.edge_index, g.edge_type), enc(g.x, g.edge_index, g.edge_type))


def _graph_pairs(seed: int = 3) -> PerformancePairDataset:
    gen = torch.Generator().manual_seed(seed)
    graphs, labels, pieces = [], [], []
    for piece in range(2):
        for _ in range(3):
            q = torch.rand(2, generator=gen)
            graphs.append(midi_to_graph(_random_score(gen, velocity_level=float(q[0]), legato=float(q[1]))))
            labels.append(q)
            pieces.append(piece)
    return PerformancePairDataset(graphs, torch.stack(labels), torch.tensor(pieces))


SMALL_GRAPH_MODULE = dict(
    gnn_hidden_dim=8,
    num_gnn_layers=1,
    num_gat_heads=2,
    head=HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2),
)


@pytest.mark.parametrize("encoder_class", [ScoreGraphEncoder, HeteroScoreGraphEncoder])
def test_a_pretrained_graph_encoder_finetunes_with_dropout_active(tmp_path, encoder_class):
    torch.manual_seed(0)
    encoder_class(hidden_dim=8, num_layers=1, num_heads=2, dropout=0.5).save_pretrained(tmp_path)
    module = ScoreGraphModule(
        heterogeneous=encoder_class is HeteroScoreGraphEncoder,
        pretrained_encoder=str(tmp_path),
        **SMALL_GRAPH_MODULE,
    )
    loader = DataLoader(_graph_pairs(), batch_size=6, collate_fn=make_graph_pair_collate())

    def dropout_active(module, batch):
        part = batch["a"]
        with torch.no_grad():
            first = module.encoder(part.x, part.edge_index, part.edge_type)
            differs = not torch.equal(first, module.encoder(part.x, part.edge_index, part.edge_type))
        return all(m.training for m in module.encoder.modules()), differs

    probe = TrainingProbe(dropout_active)
    make_smoke_trainer(max_steps=2, callbacks=[probe]).fit(module, loader)
    assert probe.records == [(True, True), (True, True)]


def test_graph_switch_to_finetune_survives_a_lightning_checkpoint(tmp_path):
    torch.manual_seed(0)
    module = ScoreGraphModule(stage="pretrain", **SMALL_GRAPH_MODULE)
    graphs = [midi_to_graph(_random_score(torch.Generator().manual_seed(s))) for s in range(4)]
    trainer = make_smoke_trainer(max_steps=1)
    trainer.fit(module, DataLoader(graphs, batch_size=4, collate_fn=collate_graph_parts))
    module.switch_to_finetune()
    trainer.save_checkpoint(tmp_path / "s2.ckpt")
    restored = ScoreGraphModule.load_from_checkpoint(tmp_path / "s2.ckpt", weights_only=True)
    assert restored.stage == "finetune"


class _RecordingEncoder(ScoreGraphEncoder):
    """Keeps the message-passing edges it was given and the edges it was asked to score."""

    def forward(self, x, edge_index, edge_type):
        self.message_edges = edge_index
        return super().forward(x, edge_index, edge_type)

    def link_logits(self, h, edge_index, edge_type):
        self.scored = [*getattr(self, "scored", []), edge_index]
        return super().link_logits(h, edge_index, edge_type)


@pytest.mark.parametrize("seed", range(4))
def test_link_prediction_hides_held_out_edges_and_their_reverse_twins(seed):
    """Onset edges come in both directions; holding out i→j while j→i stays in the message-passing graph
    hands the answer to the encoder. No held-out pair may be connected, in either direction."""
    gen = torch.Generator().manual_seed(seed)
    graph = collate_graph_parts([midi_to_graph(_random_score(gen, num_notes=16)) for _ in range(2)])
    assert int((graph.edge_type == 0).sum()) > 0  # the scores have chords: onset twins exist
    encoder = _RecordingEncoder(hidden_dim=8, num_layers=1, num_heads=2, dropout=0.0)
    link_prediction_loss(encoder, graph, 0.5, torch.Generator().manual_seed(seed))
    held = encoder.scored[0]  # the positives come first
    message = set(map(tuple, encoder.message_edges.T.tolist()))
    assert held.shape[1] >= round(0.5 * graph.edge_index.shape[1]) - 1
    leaked = [(i, j) for i, j in held.T.tolist() if (i, j) in message or (j, i) in message]
    assert not leaked
