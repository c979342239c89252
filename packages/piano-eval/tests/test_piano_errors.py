"""Bad settings and bad inputs fail with a typed error that names the problem (not a deep torch error)."""

from __future__ import annotations

import pytest
import torch
from piano_eval.audio import StagedAdaptationModel
from piano_eval.fusion import FusedPerformanceModule
from piano_eval.heads import HeadConfig, HierarchicalConfig
from piano_eval.symbolic.continuous import ContinuousPerformanceModel
from piano_eval.symbolic.gnn import ScoreGraphModule
from piano_eval.symbolic.remi_transformer import RemiTransformerModule
from piano_eval.training import EmbeddingPerformanceModule, HierarchicalMultiTaskModule

HEAD = {"head": HeadConfig(hidden_dim=8, projection_dim=4, num_dimensions=2)}

BAD_SETTINGS = [
    (lambda: EmbeddingPerformanceModule(input_dim=4, head={"num_dimensions": 0}), "num_dimensions"),
    (
        lambda: HierarchicalMultiTaskModule(HierarchicalConfig(input_dim=4), learning_rate=0.0),
        "learning_rate",
    ),
    (
        lambda: RemiTransformerModule(vocab_size=20, d_model=8, num_heads=2, mlm_probability=1.5),
        "mlm_probability",
    ),
    (lambda: RemiTransformerModule(vocab_size=20, d_model=8, num_heads=2, mask_id=30), "mask_id 30"),
    (lambda: RemiTransformerModule(vocab_size=20, d_model=10, num_heads=4), "divisible by num_heads"),
    (lambda: ContinuousPerformanceModel(encoder_dim=10, num_heads=4), "divisible by num_heads"),
    (lambda: ScoreGraphModule(link_mask_ratio=1.5), "link_mask_ratio"),
    (
        lambda: StagedAdaptationModel(input_dim=8, self_supervised_learning_rate=-1.0),
        "self_supervised_learning_rate",
    ),
]


@pytest.mark.parametrize("build, message", BAD_SETTINGS)
def test_bad_settings_are_refused_at_construction(build, message) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_embedding_parts_of_the_wrong_width_or_shape_are_named() -> None:
    module = EmbeddingPerformanceModule(input_dim=4, **HEAD)
    with pytest.raises(ValueError, match="width 5, the head expects input_dim=4"):
        module({"features": torch.randn(2, 3, 5)})
    with pytest.raises(TypeError, match="'features'"):
        module({"frames": torch.randn(2, 3, 4)})


def test_fused_streams_of_the_wrong_width_are_named() -> None:
    module = FusedPerformanceModule(audio_dim=4, symbolic_dim=6, fused_dim=8, fusion_heads=2, **HEAD)
    with pytest.raises(ValueError, match="audio features have width 5, the fusion expects 4"):
        module({"audio": torch.randn(2, 3, 5), "symbolic": torch.randn(2, 3, 6)})
    with pytest.raises(ValueError, match="symbolic features have width 4, the fusion expects 6"):
        module({"audio": torch.randn(2, 3, 4), "symbolic": torch.randn(2, 3, 4)})
