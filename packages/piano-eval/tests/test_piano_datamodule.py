"""PerformancePairDataModule: splits, within-piece unordered pairs, label masks, every input kind's batches
(checked against the files and ratings.csv they come from) and the errors a bad folder or option raises."""

from __future__ import annotations

import csv
import itertools
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from piano_eval.data.datamodule import PerformancePairDataModule, unordered_pairs
from piano_eval.data.errors import FoldLeakError, LabelFileError
from piano_eval.data.inputs import benchmark_tokenizer, load_tokens
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from piano_eval.symbolic.continuous import features_from_midi
from piano_eval.symbolic.graph import midi_to_graph
from shared_audio_core.audio import load_audio
from torch_geometric.data import Batch

torch.set_num_threads(1)
DIMS = ["timing", "dynamics", "articulation", "pedal", "notes"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 pieces x 3 performances (2 train pieces, 1 val, 1 test), 2 bars each: about two seconds to build."""
    root = tmp_path_factory.mktemp("piano") / "tiny"
    config = SyntheticBenchmarkConfig(generated_pieces=4, performances_per_piece=3, bars=2)
    build_benchmark(root, config, progress=False)
    return root


def read_rows(root: Path) -> list[dict[str, str]]:
    with (root / "ratings.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def write_rows(root: Path, rows: list[dict[str, str]]) -> None:
    with (root / "ratings.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def edited(folder: Path, tmp_path: Path) -> Callable[[Callable[[list[dict[str, str]]], None]], Path]:
    """A copy of the folder whose ratings.csv rows were changed by ``edit``."""

    def make(edit: Callable[[list[dict[str, str]]], None]) -> Path:
        root = tmp_path / "copy"
        shutil.copytree(folder, root)
        rows = read_rows(root)
        edit(rows)
        write_rows(root, rows)
        return root

    return make


def data(root: Path, **kwargs) -> PerformancePairDataModule:
    options = {"input_kind": "continuous", "scale": "0-1", "batch_size": 4, "progress": False, **kwargs}
    return PerformancePairDataModule(str(root), **options)


def rows_by_id(root: Path) -> dict[str, dict[str, str]]:
    return {r["performance_id"]: r for r in read_rows(root)}


def batches(dm: PerformancePairDataModule, split: str = "val") -> list:
    dm.setup("fit" if split in ("train", "val") else "test")
    loader = dm.val_dataloader() if split == "val" else dm.test_dataloader()
    return list(loader)


def pair_rows(dm: PerformancePairDataModule, split: str = "val") -> list[tuple[str, str]]:
    """(performance a, performance b) of each pair, in loader order (val/test are not shuffled)."""
    performances = dm.split(split)
    return [
        (performances[a].performance_id, performances[b].performance_id) for a, b in dm.datasets[split].pairs
    ]


def test_pairs_are_every_within_piece_pair_once_and_unordered(folder: Path) -> None:
    dm = data(folder)
    dm.setup("fit")
    for split in ("train", "val"):
        performances = dm.split(split)
        pairs = dm.datasets[split].pairs
        assert all(a < b for a, b in pairs)
        assert all(performances[a].piece_id == performances[b].piece_id for a, b in pairs)
        by_piece: dict[str, list[int]] = {}
        for i, p in enumerate(performances):
            by_piece.setdefault(p.piece_id, []).append(i)
        expected = {pair for members in by_piece.values() for pair in itertools.combinations(members, 2)}
        assert set(pairs) == expected and len(pairs) == len(expected)  # each unordered pair exactly once
    assert len(dm.datasets["train"]) == 2 * 3 and len(dm.datasets["val"]) == 3  # 2 pieces x C(3, 2), 1 x 3
    assert unordered_pairs([0, 1, 0, 1, 0]) == [(0, 2), (0, 4), (2, 4), (1, 3)]


def test_splits_come_from_the_split_column_and_share_no_piece(folder: Path) -> None:
    dm = data(folder)
    rows = read_rows(folder)
    pieces = {}
    for split in ("train", "val", "test"):
        ids = [p.performance_id for p in dm.split(split)]
        assert ids == [r["performance_id"] for r in rows if r["split"] == split]
        pieces[split] = {p.piece_id for p in dm.split(split)}
    assert not (
        pieces["train"] & pieces["val"] or pieces["train"] & pieces["test"] or pieces["val"] & pieces["test"]
    )


def test_pair_batch_labels_are_the_ratings_csv_rows_of_its_performances(folder: Path) -> None:
    dm = data(folder)
    csv_rows = rows_by_id(folder)
    (batch, *rest) = batches(dm)
    assert not rest and batch["labels_a"].shape == (3, 5)  # one batch: the val piece's 3 pairs
    for row, (a, b) in enumerate(pair_rows(dm)):
        for side, perf in (("a", a), ("b", b)):
            expected = torch.tensor([float(csv_rows[perf][d]) for d in DIMS])
            assert torch.allclose(batch[f"labels_{side}"][row], expected)
            assert bool(batch[f"label_mask_{side}"][row].all())
    pieces = {p.piece_id: dm.piece_index[p.piece_id] for p in dm.split("val")}
    assert batch["piece_ids_a"].tolist() == batch["piece_ids_b"].tolist() == [*pieces.values()] * 3


def test_missing_ratings_are_masked_and_zero_never_nan(edited) -> None:
    def blank(rows: list[dict[str, str]]) -> None:
        rows[3]["dynamics"] = ""  # a val performance (gen-001-p00)
        rows[4]["timing"] = rows[4]["pedal"] = ""

    root = edited(blank)
    dm = data(root)
    (batch,) = batches(dm)
    csv_rows = rows_by_id(root)
    for row, (a, b) in enumerate(pair_rows(dm)):
        for side, perf in (("a", a), ("b", b)):
            observed = torch.tensor([csv_rows[perf][d] != "" for d in DIMS])
            assert torch.equal(batch[f"label_mask_{side}"][row], observed)
            labels = batch[f"labels_{side}"][row]
            assert torch.isfinite(labels).all() and bool((labels[~observed] == 0).all())
            values = torch.tensor([float(csv_rows[perf][d]) for d in DIMS if csv_rows[perf][d]])
            assert torch.allclose(labels[observed], values)
    assert (
        int((~batch["label_mask_a"]).sum() + (~batch["label_mask_b"]).sum()) == 2 * 3
    )  # 3 blanks, 2 pairs each


def test_dimensions_select_and_order_the_rating_columns(folder: Path) -> None:
    dm = data(folder, dimensions=["pedal", "timing"])
    (batch,) = batches(dm)
    csv_rows = rows_by_id(folder)
    a = pair_rows(dm)[0][0]
    assert dm.dims == ("pedal", "timing")
    assert torch.allclose(
        batch["labels_a"][0], torch.tensor([float(csv_rows[a]["pedal"]), float(csv_rows[a]["timing"])])
    )


def test_tokens_batch_holds_each_performances_remi_ids(folder: Path) -> None:
    dm = data(folder, input_kind="tokens")
    (batch,) = batches(dm)
    tokenizer = benchmark_tokenizer()
    for row, (a, _) in enumerate(pair_rows(dm)):
        ids = load_tokens([folder / rows_by_id(folder)[a]["midi"]], tokenizer)[0]
        part = batch["a"]
        n = int(part["attention_mask"][row].sum())
        assert n == len(ids) and torch.equal(part["input_ids"][row, :n], ids)
        assert bool((part["input_ids"][row, n:] == tokenizer.pad_id).all())


def test_continuous_batch_holds_each_performances_features(folder: Path) -> None:
    dm = data(folder, input_kind="continuous")
    (batch,) = batches(dm)
    for row, (_, b) in enumerate(pair_rows(dm)):
        features = features_from_midi(folder / rows_by_id(folder)[b]["midi"])
        part = batch["b"]
        n = int(part["mask"][row].sum())
        assert part["features"].shape[-1] == 7 and n == len(features)
        assert torch.equal(part["features"][row, :n], features)


def test_notes_batch_holds_each_performances_note_features(folder: Path) -> None:
    from piano_eval.symbolic.notes import NOTE_FEATURE_NAMES, note_features

    dm = data(folder, input_kind="notes")
    (batch,) = batches(dm)
    for row, (a, _) in enumerate(pair_rows(dm)):
        features = note_features(folder / rows_by_id(folder)[a]["midi"])
        part = batch["a"]
        n = int(part["mask"][row].sum())
        assert part["features"].shape[-1] == len(NOTE_FEATURE_NAMES) and n == len(features)
        assert torch.equal(part["features"][row, :n], features)


def test_train_pieces_keeps_whole_pieces_the_same_in_every_run(tmp_path: Path) -> None:
    root = tmp_path / "eight"
    build_benchmark(
        root, SyntheticBenchmarkConfig(generated_pieces=8, performances_per_piece=2, bars=1), progress=False
    )
    every = data(root).split("train")
    subset = data(root, train_pieces=2).split("train")
    pieces = {p.piece_id for p in subset}
    assert len(pieces) == 2 and len({p.piece_id for p in every}) > 2
    assert [p.performance_id for p in subset] == [p.performance_id for p in every if p.piece_id in pieces]
    assert [p.performance_id for p in data(root, train_pieces=2).split("train")] == [
        p.performance_id for p in subset
    ]
    val = [p.performance_id for p in data(root, train_pieces=2).split("val")]
    assert val == [p.performance_id for p in data(root).split("val")]  # only training shrinks
    with pytest.raises(ValueError, match=r"train_pieces=99, but .*ratings.csv has \d+ training pieces"):
        data(root, train_pieces=99).split("train")
    with pytest.raises(ValueError, match="train_pieces must be >= 1"):
        data(root, train_pieces=0)


def test_ratings_on_the_0_100_scale_are_divided_by_100(edited) -> None:
    def to_percent(rows: list[dict[str, str]]) -> None:
        for row in rows:
            for dim in DIMS:
                row[dim] = f"{100 * float(row[dim]):.2f}"

    root = edited(to_percent)
    percent = data(root, scale="0-100")
    rows = rows_by_id(root)
    for p in percent.split("val"):
        assert p.labels.tolist() == pytest.approx([float(rows[p.performance_id][d]) / 100 for d in DIMS])
    edited_rows = read_rows(root)
    edited_rows[0]["timing"] = "100.5"
    write_rows(root, edited_rows)
    with pytest.raises(LabelFileError, match=r"timing: rating 100.5 is outside the 0-100 scale"):
        data(root, scale="0-100").setup("fit")


def test_graph_batch_holds_each_performances_note_graph(folder: Path) -> None:
    dm = data(folder, input_kind="graph")
    (batch,) = batches(dm)
    assert isinstance(batch["a"], Batch) and batch["a"].num_graphs == 3
    for row, (a, _) in enumerate(pair_rows(dm)):
        expected = midi_to_graph(folder / rows_by_id(folder)[a]["midi"])
        graph = batch["a"].get_example(row)
        assert torch.equal(graph.x, expected.x) and torch.equal(graph.edge_index, expected.edge_index)
        assert torch.equal(graph.edge_type, expected.edge_type)


def test_waveform_batch_holds_each_performances_audio_at_24_khz(folder: Path) -> None:
    dm = data(folder, input_kind="waveform")
    (batch,) = batches(dm)
    assert batch["a"]["sample_rate"] == 24_000 and "a_aug" not in batch
    for row, (a, _) in enumerate(pair_rows(dm)):
        audio = torch.from_numpy(load_audio(folder / rows_by_id(folder)[a]["audio"], 24_000))
        n = int(batch["a"]["mask"][row].sum())
        assert n == len(audio) and torch.equal(batch["a"]["waveform"][row, :n], audio)


def test_fused_batch_holds_audio_and_symbolic_inputs_and_the_score(folder: Path) -> None:
    dm = data(folder, input_kind="waveform+tokens", with_score=True)
    (batch,) = batches(dm)
    part = batch["a"]
    assert set(part) == {"audio_input", "symbolic_input", "score_input"}
    a = pair_rows(dm)[0][0]
    row = rows_by_id(folder)[a]
    audio = torch.from_numpy(load_audio(folder / row["audio"], 24_000))
    assert torch.equal(part["audio_input"]["waveform"][0, : len(audio)], audio)
    ids = load_tokens([folder / row["midi"]], benchmark_tokenizer())[0]
    score = load_tokens([folder / row["score_midi"]], benchmark_tokenizer())[0]
    assert torch.equal(part["symbolic_input"]["input_ids"][0, : len(ids)], ids)
    assert torch.equal(part["score_input"]["input_ids"][0, : len(score)], score)
    assert not torch.equal(ids[: len(score)], score[: len(ids)])  # the performance is not its score


def test_embeddings_batch_reads_the_cache_entry_of_each_audio_file(folder: Path, tmp_path: Path) -> None:
    from piano_eval.audio import AudioEncoder, BackboneConfig, LayerSelection, build_backbone
    from piano_eval.audio.cache import extract_embeddings

    torch.manual_seed(0)
    backbone = build_backbone(
        BackboneConfig(name="logmel", options={"hidden_size": 16, "num_layers": 1, "num_heads": 2})
    )
    encoder = AudioEncoder(backbone, LayerSelection.single(1))
    val_audio = [folder / r["audio"] for r in read_rows(folder) if r["split"] == "val"]
    entries = extract_embeddings(val_audio, encoder, tmp_path / "cache", progress=False)
    dm = data(folder, input_kind="embeddings", embedding_cache=str(tmp_path / "cache"))
    dm.setup("validate")
    (batch,) = list(dm.val_dataloader())
    by_audio = {str(e.source): e.path for e in entries}
    from safetensors.torch import load_file

    for row, (a, _) in enumerate(pair_rows(dm)):
        cached = load_file(by_audio[str(folder / rows_by_id(folder)[a]["audio"])])["embeddings"]
        n = int(batch["a"]["mask"][row].sum())
        assert n == len(cached) and torch.equal(batch["a"]["features"][row, :n], cached)
    with pytest.raises(ValueError, match="is not in the embedding cache"):
        data(folder, input_kind="embeddings", embedding_cache=str(tmp_path / "cache")).setup(
            "fit"
        )  # train: not extracted


def test_performance_batches_are_labelled_single_performances(folder: Path) -> None:
    dm = data(folder, batches="performances")
    (batch,) = batches(dm)
    assert set(batch) == {"features", "mask", "labels", "label_mask", "piece_ids"}
    csv_rows = rows_by_id(folder)
    for row, p in enumerate(dm.split("val")):
        assert torch.allclose(
            batch["labels"][row], torch.tensor([float(csv_rows[p.performance_id][d]) for d in DIMS])
        )
        assert int(batch["mask"][row].sum()) == len(features_from_midi(p.midi_path))


def test_pretrain_batches_are_what_each_pretraining_step_reads(folder: Path) -> None:
    tokens = data(folder, input_kind="tokens", batches="pretrain")
    (batch,) = batches(tokens)
    assert (
        set(batch) == {"input_ids", "attention_mask"} and batch["input_ids"].shape[0] == 3
    )  # 3 val performances
    first = load_tokens([dm_path(tokens, "val", 0)], benchmark_tokenizer())[0]
    assert torch.equal(batch["input_ids"][0, : len(first)], first)
    continuous = data(folder, input_kind="continuous", batches="pretrain")
    (batch,) = batches(continuous)
    assert set(batch) == {"features", "mask"} and batch["features"].shape[0] == 3
    graph = data(folder, input_kind="graph", batches="pretrain")
    (batch,) = batches(graph)
    assert isinstance(batch, Batch) and batch.num_graphs == 3
    assert torch.equal(batch.get_example(2).x, midi_to_graph(dm_path(graph, "val", 2)).x)


def dm_path(dm: PerformancePairDataModule, split: str, index: int) -> Path:
    path = dm.split(split)[index].midi_path
    assert path is not None
    return path


def test_augmentation_gives_new_views_in_training_pairs_and_a2_pretraining_batches(folder: Path) -> None:
    torch.manual_seed(0)
    dm = data(folder, input_kind="waveform", augmentation="practice_room")
    dm.setup("fit")
    item = dm.datasets["train"][0]
    assert {"a_aug", "b_aug"} <= set(item) and item["a_aug"]["sample_rate"] == 24_000
    assert not torch.equal(item["a_aug"]["waveform"], item["a"]["waveform"])
    again = dm.datasets["train"][0]
    assert not torch.equal(again["a_aug"]["waveform"], item["a_aug"]["waveform"])  # drawn anew each time
    assert "a_aug" not in next(iter(dm.val_dataloader()))  # validation scores the clean audio
    ssl = data(folder, input_kind="waveform", augmentation="practice_room", batches="pretrain")
    (batch,) = batches(ssl)
    assert set(batch) == {"clean", "augmented", "piece_ids"}
    audio = torch.from_numpy(load_audio(ssl.split("val")[0].audio_path, 24_000))
    assert torch.equal(batch["clean"]["waveform"][0, : len(audio)], audio)
    assert batch["piece_ids"].tolist() == [ssl.piece_index["gen-001"]] * 3


def test_k_fold_uses_the_fold_column_and_trains_on_the_other_folds(edited) -> None:
    def folds(rows: list[dict[str, str]]) -> None:
        for row in rows:
            row["fold"] = str(int(row["piece_id"].split("-")[1]))  # gen-00k -> fold k
            row["split"] = ""

    root = edited(folds)
    dm = data(root, val_fold=1, test_fold=2)
    assert {p.piece_id for p in dm.split("train")} == {"gen-000", "gen-003"}
    assert {p.piece_id for p in dm.split("val")} == {"gen-001"}
    assert {p.piece_id for p in dm.split("test")} == {"gen-002"}
    with pytest.raises(
        ValueError, match=r"val_fold=7 is not a fold of .*ratings.csv \(folds: \[0, 1, 2, 3\]\)"
    ):
        data(root, val_fold=7).split("train")
    with pytest.raises(ValueError, match="the test split needs test_fold"):
        data(root, val_fold=1).split("test")
    with pytest.raises(LabelFileError, match="'gen-000-p00' has no split"):
        data(root).split("train")  # the split column was emptied: say so, point at the folds


def test_a_piece_in_two_folds_or_two_splits_is_refused(edited, tmp_path: Path) -> None:
    def leak_fold(rows: list[dict[str, str]]) -> None:
        for row in rows:
            row["fold"] = str(int(row["piece_id"].split("-")[1]))
        rows[1]["fold"] = "3"  # gen-000-p01 in fold 3, its piece in fold 0

    with pytest.raises(FoldLeakError, match="piece 'gen-000' is in folds 0 and 3"):
        data(edited(leak_fold), val_fold=1).split("train")
    shutil.rmtree(tmp_path / "copy")

    def leak_split(rows: list[dict[str, str]]) -> None:
        rows[2]["split"] = "val"

    with pytest.raises(FoldLeakError, match="piece 'gen-000' is in splits 'train' and 'val'"):
        data(edited(leak_split)).split("train")


def test_missing_or_unknown_split_values_are_errors_naming_the_performance(edited, tmp_path: Path) -> None:
    def missing(rows: list[dict[str, str]]) -> None:
        rows[5]["split"] = ""

    with pytest.raises(
        LabelFileError, match=r"performance 'gen-001-p02' has no split; fill the split column"
    ):
        data(edited(missing)).split("val")
    shutil.rmtree(tmp_path / "copy")

    def unknown(rows: list[dict[str, str]]) -> None:
        rows[0]["split"] = "dev"

    with pytest.raises(
        LabelFileError, match=r"'gen-000-p00' has split 'dev'; use one of \('train', 'val', 'test'\)"
    ):
        data(edited(unknown)).split("train")
    shutil.rmtree(tmp_path / "copy")

    def no_test(rows: list[dict[str, str]]) -> None:
        for row in rows:
            if row["split"] == "test":
                row["split"] = "train"

    with pytest.raises(LabelFileError, match="no performances in split 'test'"):
        data(edited(no_test)).setup("test")


def test_bad_options_are_clear_errors(folder: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown input_kind 'midi'; choose from \['tokens', 'continuous'"):
        data(folder, input_kind="midi")
    with pytest.raises(ValueError, match="needs embedding_cache"):
        data(folder, input_kind="embeddings")
    with pytest.raises(ValueError, match="batches='pretrain' has no batch format for 'embeddings'"):
        data(folder, input_kind="embeddings", embedding_cache="x", batches="pretrain")
    with pytest.raises(ValueError, match="set augmentation to a preset"):
        data(folder, input_kind="waveform", batches="pretrain")
    with pytest.raises(ValueError, match="augmentation applies to waveform inputs"):
        data(folder, input_kind="tokens", augmentation="gym")
    with pytest.raises(ValueError, match="practice-room"):
        data(folder, input_kind="waveform", augmentation="practice-room")
    with pytest.raises(ValueError, match="batches must be one of"):
        data(folder, batches="singles")
    with pytest.raises(LabelFileError, match="outside the 1-7 scale"):
        data(folder, scale="1-7").split("train")  # the synthetic ratings are on 0-1
    with pytest.raises(ValueError, match=r"embedding_cache=.*no cache found there"):
        data(folder, input_kind="embeddings", embedding_cache=str(folder)).setup("validate")


def test_labels_match_load_rating_folder(folder: Path) -> None:
    """The module adds nothing to the folder's reading: same dims, same label vectors, same order."""
    from piano_eval.data.folder import load_rating_folder

    dims, performances = load_rating_folder(folder, scale="0-1")
    dm = data(folder, batches="performances")
    dm.setup("fit")
    train = dm.datasets["train"]
    expected = np.stack([p.labels for p in performances if p.split == "train"])
    assert dm.dims == dims and np.allclose(train.labels.numpy(), expected)


def test_a_performance_without_the_file_its_input_kind_reads_is_named(edited) -> None:
    def no_midi(rows: list[dict[str, str]]) -> None:
        rows[4]["midi"] = ""  # gen-001-p01 keeps its audio

    root = edited(no_midi)
    data(root, input_kind="waveform").setup("validate")  # audio models do not need the MIDI
    with pytest.raises(
        ValueError, match="performance 'gen-001-p01' has no midi file, which input_kind='graph' reads"
    ):
        data(root, input_kind="graph").setup("validate")
