"""S2: graph-attention encoders over score graphs, link-prediction pretraining and pairwise finetuning.

Both encoders take ``(x [N, 6], edge_index [2, E], edge_type [E])`` as built by
:func:`piano_eval.symbolic.graph.midi_to_graph`. Directed relations (during/follow/silence) get reverse
relations so information flows both ways; the homogeneous encoder embeds the relation as a GAT edge
feature, the heterogeneous one gives every relation its own ``GATConv`` inside a ``HeteroConv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GATConv, HeteroConv
from torch_geometric.utils import batched_negative_sampling, to_dense_batch

from piano_eval.dimensions import NUM_PERCEPIANO_DIMENSIONS
from piano_eval.hub import PianoEvalHubMixin
from piano_eval.objective import ObjectiveConfig, PerformanceModule, make_pair_collate
from piano_eval.symbolic.graph import EDGE_TYPES, NODE_FEATURES, NOTE, collate_graph_parts

# Relation ids: the 4 edge types, then reverses of the directed ones ("onset" is already symmetric).
DIRECTED_EDGE_TYPES: tuple[str, ...] = ("during", "follow", "silence")
RELATIONS: tuple[str, ...] = EDGE_TYPES + tuple(f"rev_{name}" for name in DIRECTED_EDGE_TYPES)


def add_reverse_relations(
    edge_index: torch.Tensor, edge_type: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Append ``j → i`` edges with a ``rev_*`` relation id for every directed ``i → j`` edge."""
    if edge_index.shape[0] != 2 or edge_index.shape[1] != edge_type.shape[0]:
        raise ValueError(
            f"edge_index [2, E] and edge_type [E] disagree: {tuple(edge_index.shape)}, {tuple(edge_type.shape)}"
        )
    if edge_type.numel() and (int(edge_type.min()) < 0 or int(edge_type.max()) >= len(EDGE_TYPES)):
        raise ValueError(f"edge_type ids must be in [0, {len(EDGE_TYPES)})")
    rev_edges, rev_types = [], []
    for k, name in enumerate(DIRECTED_EDGE_TYPES):
        selected = edge_type == EDGE_TYPES.index(name)
        rev_edges.append(edge_index[:, selected].flip(0))
        rev_types.append(
            torch.full((int(selected.sum()),), len(EDGE_TYPES) + k, dtype=torch.long, device=edge_type.device)
        )
    return torch.cat([edge_index, *rev_edges], dim=1), torch.cat([edge_type, *rev_types])


def _check_nodes(x: torch.Tensor, node_features: int) -> None:
    if x.dim() != 2 or x.shape[1] != node_features:
        raise ValueError(f"node features must be [N, {node_features}], got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("graph has no nodes")


class _LinkDecoder(nn.Module):
    """DistMult decoder: ``logit(i, r, j) = Σ h_i · w_r · h_j`` (one diagonal relation matrix per type)."""

    def __init__(self, hidden_dim: int, num_relations: int) -> None:
        super().__init__()
        self.relation = nn.Parameter(
            torch.ones(num_relations, hidden_dim) + 0.1 * torch.randn(num_relations, hidden_dim)
        )

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        return (h[edge_index[0]] * self.relation[edge_type] * h[edge_index[1]]).sum(dim=-1) / h.shape[
            -1
        ] ** 0.5


class ScoreGraphEncoder(nn.Module, PianoEvalHubMixin, tags=["symbolic", "score-graph", "gnn"]):
    """Stack of ``GATConv`` layers with relation embeddings as edge features, residuals and LayerNorm."""

    model_description = "S2: graph-attention encoder over typed score graphs (onset/during/follow/silence)."

    def __init__(
        self,
        node_features: int = len(NODE_FEATURES),
        hidden_dim: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        dropout: float = 0.1,
        relation_dim: int = 16,
    ) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim {hidden_dim} must be divisible by num_heads {num_heads}")
        self.node_features = node_features
        self.hidden_dim = hidden_dim
        self.input = nn.Sequential(nn.Linear(node_features, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU())
        self.relation_embedding = nn.Embedding(len(RELATIONS), relation_dim)
        self.convs = nn.ModuleList(
            GATConv(
                hidden_dim,
                hidden_dim // num_heads,
                heads=num_heads,
                edge_dim=relation_dim,
                dropout=dropout,
                fill_value="mean",
            )
            for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_dim) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.link_decoder = _LinkDecoder(hidden_dim, len(EDGE_TYPES))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        """Node embeddings ``[N, hidden_dim]``."""
        _check_nodes(x, self.node_features)
        edge_index, edge_type = add_reverse_relations(edge_index, edge_type)
        edge_attr = self.relation_embedding(edge_type)
        h = self.input(x)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = norm(h + self.dropout(F.elu(conv(h, edge_index, edge_attr))))
        return h

    def link_logits(self, h: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        return self.link_decoder(h, edge_index, edge_type)


class HeteroScoreGraphEncoder(
    nn.Module, PianoEvalHubMixin, tags=["symbolic", "score-graph", "gnn", "heterogeneous"]
):
    """Heterogeneous variant: per-relation ``GATConv`` summed by ``HeteroConv``, with residuals."""

    model_description = "S2 (heterogeneous): one graph-attention convolution per score-graph relation."

    def __init__(
        self,
        node_features: int = len(NODE_FEATURES),
        hidden_dim: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim {hidden_dim} must be divisible by num_heads {num_heads}")
        self.node_features = node_features
        self.hidden_dim = hidden_dim
        self.input = nn.Sequential(nn.Linear(node_features, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU())
        self.convs = nn.ModuleList(
            HeteroConv(
                {
                    (NOTE, rel, NOTE): GATConv(
                        hidden_dim,
                        hidden_dim // num_heads,
                        heads=num_heads,
                        dropout=dropout,
                        add_self_loops=False,
                    )
                    for rel in RELATIONS
                },
                aggr="sum",
            )
            for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_dim) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.link_decoder = _LinkDecoder(hidden_dim, len(EDGE_TYPES))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        _check_nodes(x, self.node_features)
        edge_index, edge_type = add_reverse_relations(edge_index, edge_type)
        edge_index_dict = {
            (NOTE, rel, NOTE): edge_index[:, edge_type == k]
            for k, rel in enumerate(RELATIONS)
            if bool((edge_type == k).any())
        }
        h = self.input(x)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            # With no edges at all there is nothing to aggregate; the residual path carries the nodes.
            update = conv({NOTE: h}, edge_index_dict)[NOTE] if edge_index_dict else torch.zeros_like(h)
            h = norm(h + self.dropout(F.elu(update)))
        return h

    def link_logits(self, h: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        return self.link_decoder(h, edge_index, edge_type)


GraphEncoder = ScoreGraphEncoder | HeteroScoreGraphEncoder


def link_prediction_loss(
    encoder: GraphEncoder,
    graph: Data | Batch,
    mask_ratio: float = 0.15,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Hide ``mask_ratio`` of the edges from message passing and classify them against as many negatives.

    Negatives are node pairs from the same graph (``batched_negative_sampling``) that are not edges; each
    gets the relation of a held-out positive, so the decoder must tell real relations from random pairs.
    """
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
    num_edges = graph.edge_index.shape[1]
    if num_edges < 2:
        raise ValueError("link prediction needs a graph with at least two edges")
    device = graph.edge_index.device
    order = torch.randperm(num_edges, generator=generator, device="cpu").to(device)
    num_held = max(1, round(mask_ratio * num_edges))
    held, kept = order[:num_held], order[num_held:]
    batch_vector = (
        graph.batch
        if getattr(graph, "batch", None) is not None
        else torch.zeros(graph.num_nodes, dtype=torch.long, device=device)
    )
    h = encoder(graph.x, graph.edge_index[:, kept], graph.edge_type[kept])
    positives = graph.edge_index[:, held]
    relations = graph.edge_type[held]
    negatives = batched_negative_sampling(
        graph.edge_index, batch_vector, num_neg_samples=max(1, num_held // int(batch_vector.max() + 1))
    )
    negatives = negatives[:, :num_held]
    if negatives.shape[1] == 0:
        raise ValueError("graph is too dense to sample negative node pairs")
    neg_relations = relations[torch.arange(negatives.shape[1], device=device) % num_held]
    pos_logits = encoder.link_logits(h, positives, relations)
    neg_logits = encoder.link_logits(h, negatives, neg_relations)
    logits = torch.cat([pos_logits, neg_logits])
    targets = torch.cat([torch.ones_like(pos_logits), torch.zeros_like(neg_logits)])
    return F.binary_cross_entropy_with_logits(logits, targets)


def make_graph_pair_collate():
    """``collate_fn`` for :class:`~piano_eval.objective.PerformancePairDataset` over note graphs."""
    return make_pair_collate(collate_graph_parts)


class ScoreGraphModule(PerformanceModule):
    """Lightning wrapper for S2.

    ``stage="pretrain"``: batches are PyG ``Batch`` objects of score graphs; loss is link prediction.
    ``stage="finetune"``: pair batches whose parts are graph batches; node embeddings are padded per graph
    (``to_dense_batch``) and go through the shared attention-pooled head and objective.
    """

    def __init__(
        self,
        node_features: int = len(NODE_FEATURES),
        gnn_hidden_dim: int = 128,
        num_gnn_layers: int = 4,
        num_gat_heads: int = 4,
        gnn_dropout: float = 0.1,
        heterogeneous: bool = False,
        stage: Literal["pretrain", "finetune"] = "finetune",
        link_mask_ratio: float = 0.15,
        pretrained_encoder: str | None = None,
        hidden_dim: int = 512,
        projection_dim: int = 256,
        num_dimensions: int = NUM_PERCEPIANO_DIMENSIONS,
        dropout: float = 0.2,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
    ) -> None:
        super().__init__(
            gnn_hidden_dim,
            hidden_dim,
            projection_dim,
            num_dimensions,
            dropout,
            learning_rate,
            weight_decay,
            objective,
        )
        self.save_hyperparameters()
        if stage not in ("pretrain", "finetune"):
            raise ValueError(f"stage must be 'pretrain' or 'finetune', got {stage!r}")
        if not 0.0 < link_mask_ratio < 1.0:
            raise ValueError(f"link_mask_ratio must be in (0, 1), got {link_mask_ratio}")
        self.stage = stage
        self.link_mask_ratio = link_mask_ratio
        encoder_class = HeteroScoreGraphEncoder if heterogeneous else ScoreGraphEncoder
        if pretrained_encoder is not None:
            self.encoder = encoder_class.from_pretrained(pretrained_encoder)
            if self.encoder.hidden_dim != gnn_hidden_dim or self.encoder.node_features != node_features:
                raise ValueError(
                    f"pretrained encoder at {pretrained_encoder} has hidden {self.encoder.hidden_dim} / features "
                    f"{self.encoder.node_features}, expected {gnn_hidden_dim} / {node_features}"
                )
        else:
            self.encoder = encoder_class(
                node_features, gnn_hidden_dim, num_gnn_layers, num_gat_heads, gnn_dropout
            )

    def switch_to_finetune(self) -> None:
        self.stage = "finetune"

    def hub_components(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, **super().hub_components()}

    def encode(self, part: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(part.x, part.edge_index, part.edge_type)
        batch_vector = (
            part.batch
            if getattr(part, "batch", None) is not None
            else torch.zeros(h.shape[0], dtype=torch.long, device=h.device)
        )
        return to_dense_batch(h, batch_vector)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.stage == "pretrain":
            loss = link_prediction_loss(self.encoder, batch, self.link_mask_ratio)
            self.log("train/link_prediction", loss, prog_bar=True, batch_size=int(batch.num_graphs))
            return loss
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.stage == "pretrain":
            loss = link_prediction_loss(self.encoder, batch, self.link_mask_ratio)
            self.log("val/link_prediction", loss, batch_size=int(batch.num_graphs))
            return loss
        return super().validation_step(batch, batch_idx)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, Mapping):
            return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        return batch.to(device)
