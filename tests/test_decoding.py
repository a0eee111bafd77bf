import torch

from recog.alphabet import Alphabet
from recog.decoding import GreedyDecoder, best_path, collapse


def read_b07(path):
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        frames, expected = (line.split("\t") + [""])[:2]
        rows.append((frames.split(" "), expected))
    return rows


def test_b07_greedy_table(cases_dir):
    rows = read_b07(cases_dir / "B07_greedy_cases.tsv")
    assert len(rows) >= 4
    symbols = sorted({f for frames, _ in rows for f in frames if f != "_"} - {"<sp>"}) + [" "]
    alphabet = Alphabet(symbols)
    to_class = {"_": 0, "<sp>": alphabet.encode(" ")[0]} | {s: alphabet.encode(s)[0] for s in symbols if s != " "}
    for frames, expected in rows:
        classes = torch.tensor([to_class[f] for f in frames])
        log_probs = torch.nn.functional.one_hot(classes, alphabet.num_classes).float().log().unsqueeze(1)  # (T, 1, C)
        (labels,) = best_path(log_probs, torch.tensor([len(frames)]))
        assert alphabet.decode(labels) == expected, frames


def test_collapse_repeats_before_dropping_blanks():
    assert collapse([1, 1, 0, 1, 1]) == [1, 1]
    assert collapse([0, 1, 1, 1, 0, 0, 2, 2, 0, 2]) == [1, 2, 2]
    assert collapse([]) == []


def test_lengths_limit_the_frames_read():
    log_probs = torch.full((4, 2, 3), -5.0)
    log_probs[:, 0, 1] = 0.0  # sample 0: all "1"
    log_probs[:, 1, 2] = 0.0  # sample 1: all "2"
    log_probs[3, 1, 0] = 1.0  # frame 3 of sample 1 is padding and would add nothing anyway
    assert GreedyDecoder()(log_probs, torch.tensor([4, 0])) == [[1], []]
