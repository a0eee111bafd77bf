import pytest

from recog.metrics import ErrorCounts, corpus_error_counts, error_breakdown, line_error_counts
from recog.text import TextNormalizer


def test_b10_one_normalisation_for_both_sides():
    reference = "This is a short Sentence with a few Words with upper and Lower cases"
    hypothesis = "His is a short Sentence with a few Words with upper and Lower cases"
    normalizer = TextNormalizer(lowercase=True)
    counts = corpus_error_counts([normalizer(reference)], [normalizer(hypothesis)])
    assert counts.words == 14
    assert counts.wer == pytest.approx(1 / 14)
    assert round(counts.wer, 6) == 0.071429
    assert "lowercase" in normalizer.describe()


def test_b11_corpus_level_not_mean_of_lines():
    counts = corpus_error_counts(["the cat sat on the mat", "hi"], ["the cat sat on the mat", "high"])
    assert counts.wer == pytest.approx(1 / 7)
    assert round(counts.wer, 6) == 0.142857
    assert counts.cer == pytest.approx(2 / 24)
    assert round(counts.cer, 6) == 0.083333


def test_b13_references_are_never_collapsed():
    references = ["hello", "bookkeeper", "committee"]
    assert corpus_error_counts(references, list(references)).cer == 0.0


def test_counts_sum_exactly():
    a = line_error_counts("ab c", "ab")
    b = line_error_counts("x", "y")
    assert (a + b) == ErrorCounts(char_errors=3, chars=5, word_errors=2, words=3, lines=2)


def test_empty_references():
    assert corpus_error_counts([""], [""]).cer == 0.0
    assert corpus_error_counts([""], ["a"]).cer == float("inf")


def test_jiwer_breakdown_agrees_with_editdistance():
    references = ["the cat sat on the mat", "hi there", "", "a b c"]
    hypotheses = ["the cat sad on mat", "high there", "oops no", "a x b c"]
    counts = corpus_error_counts(references, hypotheses)
    breakdown = error_breakdown(references, hypotheses)
    assert breakdown["words"].errors == counts.word_errors
    assert breakdown["chars"].errors == counts.char_errors
    # "sat"->"sad" S, "the" D; "hi"->"high" S; "oops no" 2 I; "x" I
    assert (breakdown["words"].substitutions, breakdown["words"].deletions, breakdown["words"].insertions) == (2, 1, 3)
