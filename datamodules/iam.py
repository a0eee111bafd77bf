"""The IAM Handwriting Database in its original layout: ascii/lines.txt and lines/<a01>/<a01-000u>/*.png.

lines.txt rows (case B19):
    a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop|Mr.|Gaitskell|from
    <line id> <ok|err> <graylevel> <#components> <x> <y> <w> <h> <transcription>
Comment lines start with "#". The transcription is everything after the 8th field separator (it may
contain spaces, as in "M Ps"); "|" separates words and becomes a space; trailing whitespace is dropped.
"err" marks a line whose word segmentation has errors; its line transcription is still valid, so such
lines are kept unless keep_err is false.

Splits are text files with one id per line, either line ids (a01-000u-00) or form ids (a01-000u: all
lines of that form); the published IAM line splits are distributed in exactly this form.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hydra.utils import to_absolute_path

from datamodules.line_images import LineImageDataModule, LineSample
from recog.errors import DataError, read_utf8_lines

SPLIT_NAMES = ("train", "val", "test")


class IAMFormatError(DataError):
    pass


@dataclass(frozen=True)
class IAMLine:
    id: str
    status: str
    text: str
    width: int
    height: int

    @property
    def form_id(self) -> str:
        return self.id.rsplit("-", 1)[0]

    @property
    def image_relpath(self) -> Path:
        return Path("lines") / self.form_id.split("-")[0] / self.form_id / f"{self.id}.png"


def parse_lines_txt(path: str | Path, keep_err: bool = True) -> list[IAMLine]:
    """Records of an IAM lines.txt; malformed rows raise with file, line number and what is wrong."""
    records, first_seen = [], {}
    for number, raw in enumerate(read_utf8_lines(path), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        fields = raw.split(maxsplit=8)
        if len(fields) < 9:
            raise IAMFormatError(f"{path}:{number}: expected 9 fields (id, status, graylevel, components, "
                                 f"x, y, w, h, text), found {len(fields)}: {raw!r}")
        line_id, status, *_, width, height, transcription = fields
        if status not in ("ok", "err"):
            raise IAMFormatError(f"{path}:{number}: status must be 'ok' or 'err', not {status!r}")
        if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
            raise IAMFormatError(f"{path}:{number}: bounding box width/height must be positive integers: {raw!r}")
        if line_id in first_seen:
            raise IAMFormatError(f"{path}:{number}: line id {line_id} already appears on line {first_seen[line_id]}")
        first_seen[line_id] = number
        if status == "err" and not keep_err:
            continue
        text = transcription.replace("|", " ").rstrip()
        records.append(IAMLine(line_id, status, text, int(width), int(height)))
    return records


def read_split_ids(path: str | Path, records: list[IAMLine]) -> list[str]:
    """Line ids selected by a split file of line ids and/or form ids, in lines.txt order."""
    line_ids = {r.id for r in records}
    form_ids = {r.form_id for r in records}
    wanted_lines, wanted_forms = set(), set()
    for number, raw in enumerate(read_utf8_lines(path), start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry in line_ids:
            wanted_lines.add(entry)
        elif entry in form_ids:
            wanted_forms.add(entry)
        else:
            raise IAMFormatError(f"{path}:{number}: {entry!r} is neither a line id nor a form id of lines.txt "
                                 "(is the split meant for another lines.txt, or were err lines excluded?)")
    return [r.id for r in records if r.id in wanted_lines or r.form_id in wanted_forms]


class IAMDataModule(LineImageDataModule):
    """IAM lines (or any data written in its layout) with split lists of line or form ids."""

    def __init__(self, root: str, splits: dict[str, str | None], keep_err: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.root = Path(to_absolute_path(str(root)))
        self.split_files = {name: to_absolute_path(str(path)) for name, path in (splits or {}).items()
                            if path is not None}
        self.keep_err = keep_err

    def read_splits(self) -> dict[str, list[LineSample]]:
        lines_txt = self.root / "ascii" / "lines.txt"
        if not lines_txt.is_file():
            raise DataError(f"{lines_txt} not found: data.root must be the IAM folder that holds "
                            "ascii/lines.txt and lines/")
        records = parse_lines_txt(lines_txt, self.keep_err)
        by_id = {r.id: r for r in records}
        return {name: [self._sample(by_id[line_id]) for line_id in read_split_ids(path, records)]
                for name, path in self.split_files.items()}

    def _sample(self, record: IAMLine) -> LineSample:
        return LineSample(record.id, self.root / record.image_relpath, record.text, writer=record.form_id)
