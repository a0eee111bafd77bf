import pytest
from PIL import Image

from datamodules.line_manifest import LineManifestDataModule, ManifestFormatError, read_manifest, split_by_writer
from tests.conftest import shared_path


def write_pairs(root, lines_by_writer):
    for writer, texts in lines_by_writer.items():
        (root / writer).mkdir(parents=True)
        for index, text in enumerate(texts):
            Image.new("L", (40, 10), 255).save(root / writer / f"l{index}.png")
            (root / writer / f"l{index}.gt.txt").write_text(text + "\n", encoding="utf-8")


def test_gt_txt_pairs_with_writer_disjoint_validation(tmp_path):
    write_pairs(tmp_path, {"w1": ["a", "b"], "w2": ["ba"], "w3": ["d", "e", "f"]})
    module = LineManifestDataModule(root=str(tmp_path), val_writers=["w2"], num_workers=0)
    module.setup("fit")
    assert [s.text for s in module.splits["val"]] == ["ba"]
    assert sorted(s.text for s in module.splits["train"]) == ["a", "b", "d", "e", "f"]
    assert module.alphabet.symbols == list("abdef")  # built from training transcripts only


def test_unknown_writer_is_a_clear_error(tmp_path):
    write_pairs(tmp_path, {"w1": ["a"]})
    with pytest.raises(ManifestFormatError, match="writer 'nobody'"):
        LineManifestDataModule(root=str(tmp_path), val_writers=["nobody"]).read_splits()


def test_split_by_writer_takes_whole_writers_until_the_fraction():
    from datamodules.line_images import LineSample
    samples = [LineSample(f"{w}{i}", None, "x", writer=w) for w, n in (("a", 5), ("b", 3), ("c", 2)) for i in range(n)]
    chosen = split_by_writer(samples, 0.25, seed=0, exclude=set())
    assert sum(s.writer in chosen for s in samples) >= 0.25 * len(samples)
    assert split_by_writer(samples, 0.25, seed=0, exclude=set()) == chosen  # deterministic


def test_manifest_rows_with_wrong_field_count(tmp_path):
    (tmp_path / "manifest.tsv").write_text("image\ttext\twriter_id\na.png\thello\n", encoding="utf-8")
    with pytest.raises(ManifestFormatError, match=r"manifest.tsv:2: 2 fields, the header has 3"):
        read_manifest(tmp_path / "manifest.tsv")


def test_real_poilus_manifest_splits_by_writer():
    root = shared_path("data", "poilus_htr")
    module = LineManifestDataModule(root=str(root), val_fraction=0.2, num_workers=0)
    module.setup("fit")
    train_writers = {s.writer for s in module.splits["train"]}
    val_writers = {s.writer for s in module.splits["val"]}
    assert len(train_writers | val_writers) == 13 and not train_writers & val_writers
    assert len(module.splits["train"]) + len(module.splits["val"]) <= 209
    assert len(module.splits["val"]) >= 0.2 * 209 * 0.8
