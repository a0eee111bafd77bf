import itertools

import numpy as np
import pytest
import torch

from recog.alphabet import Alphabet
from recog.decoding import DecodingError, beam_search, beam_search_batch, best_path, collapse, prefix_beam_search
from recog.decoding import prefix_search


def random_log_probs(seed: int, frames: int, classes: int, sharpness: float = 1.0) -> np.ndarray:
    """(T, C) natural-log posteriors."""
    logits = np.random.default_rng(seed).normal(size=(frames, classes)) * sharpness
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


def exact_labelling_log_probs(log_probs: np.ndarray, blank: int = 0) -> dict[tuple[int, ...], float]:
    """Brute force: every path of C^T, collapsed, its probability summed into its labelling."""
    frames, classes = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(classes), repeat=frames):
        labels = tuple(collapse(list(path), blank))
        path_log_prob = float(log_probs[np.arange(frames), list(path)].sum())
        totals[labels] = np.logaddexp(totals.get(labels, -np.inf), path_log_prob)
    return totals


@pytest.mark.parametrize("blank_last", [False, True], ids=["blank first", "blank last"])
@pytest.mark.parametrize("find_parents_by_sorting", [False, True], ids=["pairs compared", "sorted"])
@pytest.mark.parametrize("seed, frames, classes", [(0, 5, 3), (1, 4, 4), (2, 6, 2), (3, 3, 5)])
def test_infinite_beam_equals_brute_force_over_all_labellings(seed, frames, classes, blank_last,
                                                              find_parents_by_sorting, monkeypatch):
    if find_parents_by_sorting:  # how wide beams and big batches find each beam's parent
        monkeypatch.setattr(prefix_search, "MAX_PAIRS_COMPARED", 0)
    blank = classes - 1 if blank_last else 0
    log_probs = random_log_probs(seed, frames, classes)
    exact = exact_labelling_log_probs(log_probs, blank)
    hypotheses = beam_search(log_probs, beam_width=10**6, blank=blank)
    assert {h.labels for h in hypotheses} == set(exact)
    for h in hypotheses:
        assert h.ctc_log_prob == pytest.approx(exact[h.labels], abs=1e-12)
        assert h.score == h.ctc_log_prob
    best = max(exact, key=exact.get)
    assert hypotheses[0].labels == best


@pytest.mark.parametrize("beam_width", [1, 2, 3, 8])
def test_n_best_is_sorted_and_never_above_the_exact_probability(beam_width):
    for seed in range(5):
        log_probs = random_log_probs(seed, 6, 3, sharpness=2.0)
        exact = exact_labelling_log_probs(log_probs)
        hypotheses = beam_search(log_probs, beam_width=beam_width)
        scores = [h.score for h in hypotheses]
        assert scores == sorted(scores, reverse=True)
        assert len(hypotheses) == min(beam_width, len(exact))
        assert len({h.labels for h in hypotheses}) == len(hypotheses)  # identical prefixes were merged
        for h in hypotheses:
            assert h.ctc_log_prob <= exact[h.labels] + 1e-12


def test_beam_width_one_equals_greedy_on_peaked_inputs():
    for seed in range(10):
        log_probs = random_log_probs(seed, 40, 6, sharpness=8.0)  # each frame has one dominant class
        (greedy,) = best_path(torch.from_numpy(log_probs).unsqueeze(1), torch.tensor([40]))
        (best,) = beam_search(log_probs, beam_width=1)
        assert list(best.labels) == greedy


def test_a_repeated_label_needs_a_blank_in_between():
    a, blank = np.log([0.1, 0.9]), np.log([0.9, 0.1])  # classes: blank, "a"
    # frames a a: only "a" (p = 0.81 + 0.09 + 0.09 = 0.99 with both paths that contain an "a")
    (best, *_) = beam_search(np.stack([a, a]), beam_width=8)
    assert best.labels == (1,) and best.ctc_log_prob == pytest.approx(np.log(0.81 + 0.09 + 0.09))
    # frames a _ a: "aa" is only the path a _ a (0.729)
    hypotheses = {h.labels: h.ctc_log_prob for h in beam_search(np.stack([a, blank, a]), beam_width=8)}
    assert hypotheses[(1, 1)] == pytest.approx(np.log(0.9 * 0.9 * 0.9))


def test_pruning_keeps_the_best_on_peaked_inputs_and_changes_nothing_when_off():
    log_probs = random_log_probs(7, 60, 12, sharpness=4.0)
    exact = beam_search(log_probs, beam_width=16)
    assert beam_search(log_probs, beam_width=16, top_k=None, min_log_prob=None) == exact
    pruned = beam_search(log_probs, beam_width=16, top_k=3, min_log_prob=np.log(1e-3))
    assert pruned[0].labels == exact[0].labels


def test_prefix_beam_search_returns_the_best_string():
    vocab = ["", "a", "b"]
    frames = np.log([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    assert prefix_beam_search(frames, beam_width=4, vocab=vocab, blank=0) == "ab"
    # a blank last (as some toolkits put it) and a label at class 0: "a _ a" is "aa", not "a" or ""
    a, blank = np.log([0.9, 0.1]), np.log([0.1, 0.9])
    assert prefix_beam_search(np.stack([a, blank, a]), beam_width=8, vocab=["a", ""], blank=1) == "aa"
    with pytest.raises(DecodingError, match="vocab has 2 entries but log_probs has 3 classes"):
        prefix_beam_search(frames, vocab=["", "a"])
    with pytest.raises(DecodingError, match="apply log_softmax"):
        prefix_beam_search(np.exp(frames), vocab=vocab)


def padded_batch(utterances: list[np.ndarray], padding: float = np.nan) -> np.ndarray:
    """(T, N, C) with `padding` after each utterance's end (the search must never read it)."""
    batch = np.full((max(map(len, utterances)), len(utterances), utterances[0].shape[1]), padding)
    for n, log_probs in enumerate(utterances):
        batch[: len(log_probs), n] = log_probs
    return batch


def utterances_of_lengths(lengths: list[int], classes: int) -> list[np.ndarray]:
    return [random_log_probs(seed, length, classes, sharpness=3.0) for seed, length in enumerate(lengths)]


@pytest.mark.parametrize("beam_width, top_k, min_log_prob", [(1, None, None), (6, None, None), (6, 2, -4.0)])
def test_a_batch_gives_each_utterance_exactly_what_it_gets_alone(beam_width, top_k, min_log_prob):
    utterances = utterances_of_lengths([9, 0, 4, 12, 9, 1], classes=5)
    settings = {"beam_width": beam_width, "top_k": top_k, "min_log_prob": min_log_prob}
    batched = beam_search_batch(padded_batch(utterances), list(map(len, utterances)), **settings)
    assert batched == [beam_search(log_probs, **settings) for log_probs in utterances]
    assert batched[1] == [beam_search(np.zeros((0, 5)))[0]]
    assert beam_search_batch(np.zeros((3, 0, 5)), []) == []


def test_batch_arguments_are_checked():
    batch = padded_batch(utterances_of_lengths([3, 2], classes=4))
    with pytest.raises(DecodingError, match=r"lengths \[3, 4\] do not fit log_probs of 3 frames x 2 samples"):
        beam_search_batch(batch, [3, 4])
    beam_search_batch(np.nan_to_num(batch, nan=0.5), [3, 2])  # 0.5 in the padding: never read
    batch[1, 1, 2] = 0.5  # inside the second utterance
    with pytest.raises(DecodingError, match="frame 1 of sample 1: .* apply log_softmax"):
        beam_search_batch(batch, [3, 2])


def test_empty_input_gives_the_empty_labelling():
    (best,) = beam_search(np.zeros((0, 3)), beam_width=4)
    assert best.labels == () and best.score == 0.0


# case B09: beam search, LM, spaces ---------------------------------------------------------------------------

def read_b09(path) -> tuple[Alphabet, np.ndarray]:
    """The case's CSV: a comment, a header naming the classes (<blank>, <space>, a-z, '), one row per frame."""
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    header = rows[0].split(",")
    assert header[:2] == ["<blank>", "<space>"]
    alphabet = Alphabet([" "] + header[2:])  # class i + 1 = symbol i, so the CSV columns are the classes
    return alphabet, np.array([[float(v) for v in row.split(",")] for row in rows[1:]])


@pytest.mark.parametrize("name", ["B09_the_cat_peaked.csv", "B09_the_cat_ambiguous_space.csv"])
def test_b09_beam_search_gives_the_cat_with_one_space(cases_dir, name):
    alphabet, log_probs = read_b09(cases_dir / name)
    assert log_probs.shape == (14, 29)
    vocab = [""] + alphabet.symbols
    assert prefix_beam_search(log_probs, beam_width=8, vocab=vocab) == "the cat"


def test_b09_greedy_on_the_ambiguous_file_gives_thecat(cases_dir):
    alphabet, log_probs = read_b09(cases_dir / "B09_the_cat_ambiguous_space.csv")
    (labels,) = best_path(torch.from_numpy(log_probs).unsqueeze(1), torch.tensor([len(log_probs)]))
    assert alphabet.decode(labels) == "thecat"
