"""S2: graph-attention encoders over score graphs, link-prediction pretraining and pairwise finetuning.

Both encoders take ``(x [N, 6], edge_index [2, E], edge_type [E])`` as built by
:func:`piano_eval.symbolic.graph.midi_to_graph`. Directed relations (during/follow/silence) get reverse
relations so information flows both ways; the homogeneous encoder embeds the relation as a GAT edge
feature, the heterogeneous one gives every relation its own ``GATConv`` inside a ``HeteroConv``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GATConv, HeteroConv
from torch_geometric.utils import batched_negative_sampling, to_dense_batch

from piano_eval.heads import HeadConfig
from piano_eval.hub import PianoEvalHubMixin
from piano_eval.symbolic.graph import EDGE_TYPES, NODE_FEATURES, NOTE, collate_graph_parts
from piano_eval.training import (
    ObjectiveConfig,
    PretrainableModule,
    ScheduleConfig,
    Stage,
    is_lightning_checkpoint,
    load_part_weights,
    load_pretrained_part,
    make_pair_collate,
)

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


class GraphEncoderStem(nn.Module):
    """What both S2 encoders share: node input projection, ``num_layers`` residual message-passing layers
    with LayerNorm, reverse relations for the directed edge types, and the link-prediction decoder.

    Subclasses build ``self.convs`` and implement :meth:`edge_context` (edges → what every layer reads)
    and :meth:`message` (one layer's update of the node states).
    """

    def __init__(
        self, node_features: int, hidden_dim: int, num_layers: int, num_heads: int, dropout: float
    ) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim {hidden_dim} must be divisible by num_heads {num_heads}")
        self.node_features = node_features
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.input = nn.Sequential(nn.Linear(node_features, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU())
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_dim) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.link_decoder = _LinkDecoder(hidden_dim, len(EDGE_TYPES))

    def attention_conv(self, **options: Any) -> GATConv:
        """A ``GATConv`` from ``hidden_dim`` to ``num_heads`` concatenated heads of ``hidden_dim`` in all."""
        heads = self.num_heads
        return GATConv(
            self.hidden_dim, self.hidden_dim // heads, heads=heads, dropout=self.dropout.p, **options
        )

    @abc.abstractmethod
    def edge_context(self, edge_index: torch.Tensor, edge_type: torch.Tensor) -> Any:
        """What every layer's message passing needs from the edges (prepared once per forward)."""

    @abc.abstractmethod
    def message(self, layer: int, h: torch.Tensor, context: Any) -> torch.Tensor:
        """Layer ``layer``'s message passing over ``h`` (homogeneous GAT or per-edge-type convolutions)."""

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        """Node embeddings ``[N, hidden_dim]``."""
        _check_nodes(x, self.node_features)
        context = self.edge_context(*add_reverse_relations(edge_index, edge_type))
        h = self.input(x)
        for layer, norm in enumerate(self.norms):
            h = norm(h + self.dropout(F.elu(self.message(layer, h, context))))
        return h

    def link_logits(self, h: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        return self.link_decoder(h, edge_index, edge_type)


class ScoreGraphEncoder(GraphEncoderStem, PianoEvalHubMixin, tags=["symbolic", "score-graph", "gnn"]):
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
        super().__init__(node_features, hidden_dim, num_layers, num_heads, dropout)
        self.relation_embedding = nn.Embedding(len(RELATIONS), relation_dim)
        self.convs = nn.ModuleList(
            self.attention_conv(edge_dim=relation_dim, fill_value="mean") for _ in range(num_layers)
        )

    def edge_context(self, edge_index: torch.Tensor, edge_type: torch.Tensor) -> Any:
        return edge_index, self.relation_embedding(edge_type)

    def message(self, layer: int, h: torch.Tensor, context: Any) -> torch.Tensor:
        edge_index, edge_attr = context
        return self.convs[layer](h, edge_index, edge_attr)


class HeteroScoreGraphEncoder(
    GraphEncoderStem, PianoEvalHubMixin, tags=["symbolic", "score-graph", "gnn", "heterogeneous"]
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
        super().__init__(node_features, hidden_dim, num_layers, num_heads, dropout)
        self.convs = nn.ModuleList(
            HeteroConv(
                {(NOTE, rel, NOTE): self.attention_conv(add_self_loops=False) for rel in RELATIONS},
                aggr="sum",
            )
            for _ in range(num_layers)
        )

    def edge_context(self, edge_index: torch.Tensor, edge_type: torch.Tensor) -> Any:
        return {
            (NOTE, rel, NOTE): edge_index[:, edge_type == k]
            for k, rel in enumerate(RELATIONS)
            if bool((edge_type == k).any())
        }

    def message(self, layer: int, h: torch.Tensor, context: Any) -> torch.Tensor:
        # With no edges at all there is nothing to aggregate; the residual path carries the nodes.
        return self.convs[layer]({NOTE: h}, context)[NOTE] if context else torch.zeros_like(h)


GraphEncoder = ScoreGraphEncoder | HeteroScoreGraphEncoder


def split_link_edges(
    edge_index: torch.Tensor,
    edge_type: torch.Tensor,
    mask_ratio: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hold out ``mask_ratio`` of the edges as link-prediction targets.

    Returns ``(message_index, message_type, held_index, held_type)``. The message-passing graph loses every
    edge that joins the two notes of a held-out edge, not only the edge itself: onset edges are stored in
    both directions, and a reverse twin left in place hands the answer to the encoder.
    """
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
    num_edges = edge_index.shape[1]
    if num_edges < 2:
        raise ValueError("link prediction needs a graph with at least two edges")
    order = torch.randperm(num_edges, generator=generator, device="cpu").to(edge_index.device)
    held = order[: max(1, round(mask_ratio * num_edges))]
    width = int(edge_index.max()) + 1

    def unordered(ei: torch.Tensor) -> torch.Tensor:
        return torch.minimum(ei[0], ei[1]) * width + torch.maximum(ei[0], ei[1])

    keep = ~torch.isin(unordered(edge_index), unordered(edge_index[:, held]))
    return edge_index[:, keep], edge_type[keep], edge_index[:, held], edge_type[held]


def link_prediction_loss(
    encoder: GraphEncoder,
    graph: Data | Batch,
    mask_ratio: float = 0.15,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Hide ``mask_ratio`` of the edges (and every other edge between the same two notes, see
    :func:`split_link_edges`) from message passing and classify them against as many negatives.

    Negatives are node pairs from the same graph (``batched_negative_sampling``) that are not edges; each
    gets the relation of a held-out positive, so the decoder must tell real relations from random pairs.
    """
    message_index, message_type, positives, relations = split_link_edges(
        graph.edge_index, graph.edge_type, mask_ratio, generator
    )
    num_held = positives.shape[1]
    device = graph.edge_index.device
    batch_vector = (
        graph.batch
        if getattr(graph, "batch", None) is not None
        else torch.zeros(graph.num_nodes, dtype=torch.long, device=device)
    )
    h = encoder(graph.x, message_index, message_type)
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
    """``collate_fn`` for :class:`~piano_eval.training.PerformancePairDataset` over note graphs."""
    return make_pair_collate(collate_graph_parts)


class ScoreGraphModule(PretrainableModule):
    """Lightning wrapper for S2.

    ``stage="pretrain"``: batches are PyG ``Batch`` objects of score graphs; loss is link prediction.
    ``stage="finetune"``: pair batches whose parts are graph batches; node embeddings are padded per graph
    (``to_dense_batch``) and go through the shared attention-pooled head and objective.
    ``pretrained_encoder`` loads a saved encoder (``save_pretrained`` folder or Hub id) or the encoder of a
    pretraining run's Lightning checkpoint (``*.ckpt``; the sizes must match it).
    ``schedule`` and ``backbone_lr_ratio``: the shared training recipe, see
    :class:`~piano_eval.training.PerformanceModule`.
    """

    def __init__(
        self,
        node_features: int = len(NODE_FEATURES),
        gnn_hidden_dim: int = 128,
        num_gnn_layers: int = 4,
        num_gat_heads: int = 4,
        gnn_dropout: float = 0.1,
        heterogeneous: bool = False,
        stage: Stage = "finetune",
        link_mask_ratio: float = 0.15,
        pretrained_encoder: str | None = None,
        head: HeadConfig | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-5,
        objective: ObjectiveConfig | None = None,
        schedule: ScheduleConfig | None = None,
        backbone_lr_ratio: float = 1.0,
    ) -> None:
        super().__init__(
            gnn_hidden_dim, stage, head, learning_rate, weight_decay, objective, schedule, backbone_lr_ratio
        )
        self.save_hyperparameters()
        if not 0.0 < link_mask_ratio < 1.0:
            raise ValueError(f"link_mask_ratio must be in (0, 1), got {link_mask_ratio}")
        self.link_mask_ratio = link_mask_ratio
        encoder_class = HeteroScoreGraphEncoder if heterogeneous else ScoreGraphEncoder
        if pretrained_encoder is not None and not is_lightning_checkpoint(pretrained_encoder):
            self.encoder = load_pretrained_part(
                encoder_class, pretrained_encoder, hidden_dim=gnn_hidden_dim, node_features=node_features
            )
        else:
            self.encoder = encoder_class(
                node_features, gnn_hidden_dim, num_gnn_layers, num_gat_heads, gnn_dropout
            )
            if pretrained_encoder is not None:  # a pretrain run's Lightning checkpoint (train fit output)
                load_part_weights(self.encoder, pretrained_encoder)
                # the weights are this module's own now: its checkpoints rebuild without the pretrain file
                self.record_init_arg("pretrained_encoder", None)

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

    def pretrain_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        loss = link_prediction_loss(self.encoder, batch, self.link_mask_ratio)
        return {"link_prediction": loss, "total": loss}

    def pretrain_batch_size(self, batch: Batch) -> int:
        return int(batch.num_graphs)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, Mapping):
            return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        return batch.to(device)
