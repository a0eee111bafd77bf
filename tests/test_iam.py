import shutil

import pytest
from PIL import Image

from datamodules.iam import IAMDataModule, IAMFormatError, parse_lines_txt, read_split_ids


def test_b19_lines_txt_parsing(cases_dir):
    records = parse_lines_txt(cases_dir / "B19_iam_lines_fixture.txt")
    assert [(r.id, r.text) for r in records] == [
        ("a01-000u-00", "A MOVE to stop Mr. Gaitskell from"),
        ("a01-000u-01", "nominating any more Labour life Peers"),
        ("a01-000u-03", "Ps tomorrow . Mr. Michael Foot has"),
        ("a01-000u-06", "P for Manchester Exchange ."),
    ]
    assert records[2].status == "err"
    assert str(records[0].image_relpath) == "lines/a01/a01-000u/a01-000u-00.png"
    assert (records[0].width, records[0].height) == (1661, 89)
    without_err = parse_lines_txt(cases_dir / "B19_iam_lines_fixture.txt", keep_err=False)
    assert [r.id for r in without_err] == ["a01-000u-00", "a01-000u-01", "a01-000u-06"]


def test_token_with_inner_space_is_kept(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("a01-000u-03 ok 156 12 400 1280 1800 110 M Ps|tomorrow\n")
    assert parse_lines_txt(path)[0].text == "M Ps tomorrow"


def test_malformed_rows_name_file_and_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("# header\na01-000u-00 ok 154 19 408\n")
    with pytest.raises(IAMFormatError, match=r"lines.txt:2: expected 9 fields"):
        parse_lines_txt(path)
    path.write_text("a01-000u-00 maybe 154 19 408 746 1661 89 A\n")
    with pytest.raises(IAMFormatError, match=r"lines.txt:1: status"):
        parse_lines_txt(path)


def test_split_lists_of_line_ids_and_form_ids(tmp_path, cases_dir):
    records = parse_lines_txt(cases_dir / "B19_iam_lines_fixture.txt")
    split = tmp_path / "split.lst"
    split.write_text("a01-000u-06\n\n# a comment\n")
    assert read_split_ids(split, records) == ["a01-000u-06"]
    split.write_text("a01-000u\n")
    assert len(read_split_ids(split, records)) == 4
    split.write_text("a01-000u-00\nb02-123\n")
    with pytest.raises(IAMFormatError, match=r"split.lst:2: 'b02-123' is neither"):
        read_split_ids(split, records)


def make_iam_copy(tmp_path, lines_txt):
    """An IAM-layout folder whose lines.txt is the given fixture, with blank images of the right size."""
    (tmp_path / "ascii").mkdir()
    shutil.copy(lines_txt, tmp_path / "ascii" / "lines.txt")
    for record in parse_lines_txt(lines_txt):
        image_path = tmp_path / record.image_relpath
        image_path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (record.width, record.height), 255).save(image_path)
    split = tmp_path / "all.lst"
    split.write_text("\n".join(r.id for r in parse_lines_txt(lines_txt)) + "\n")
    return split


@pytest.mark.parametrize("policy", ["skip", "unknown", "fail"])
def test_b20_unknown_characters_policy(tmp_path, cases_dir, caplog, policy):
    split = make_iam_copy(tmp_path, cases_dir / "B20_iam_unknown_chars.txt")
    alphabet = tmp_path / "alphabet.txt"
    alphabet.write_text("\n".join(["<space>", *"ACacefilnopstv0123456789"]) + "\n")
    module = IAMDataModule(root=str(tmp_path), splits={"train": str(split), "val": str(split)},
                           alphabet=str(alphabet), unknown_chars=policy)
    if policy == "fail":
        with pytest.raises(ValueError) as error:
            module.setup("fit")
        for character in "ïé½×":
            assert repr(character) in str(error.value)
        assert "x01-000-00" in str(error.value)
        return
    module.setup("fit")
    for character in "ïé½×":
        assert repr(character) in caplog.text
    assert "x01-000-00" in caplog.text
    ids = [s.id for s in module.splits["train"]]
    if policy == "skip":
        assert ids == ["x01-000-01"]
    else:
        assert ids == ["x01-000-00", "x01-000-01"]
        dataset = module.dataset("train")
        unknown_index = module.alphabet.num_classes - 1
        assert (dataset[0]["target"] == unknown_index).sum() == 4  # ï é ½ ×
    batch = next(iter(module.train_dataloader()))  # never a KeyError mid-epoch
    assert len(batch["ids"]) == len(ids)
