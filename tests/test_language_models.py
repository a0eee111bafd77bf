import functools
import math

import numpy as np
import pytest
import torch

from recog.alphabet import Alphabet
from recog.build_lm import main as recog_lm
from recog.decoding import BeamSearchDecoder, DecodingError
from recog.decoding.kneser_ney import estimate, kneser_ney_counts, raw_counts
from recog.decoding.language_models import WordLMScorer, char_ngram, word_ngram
from recog.decoding.ngram import LanguageModelError, read_arpa
from test_beam_search import read_b09

HAND_WRITTEN_ARPA = """Some tool's header text before \\data\\ is a comment.
\\data\\
ngram 1=5
ngram 2=3
ngram 3=1

\\1-grams:
-99\t<s>\t-0.5
-0.3\ta\t-0.2
-0.6\tb\t-0.25
-0.9\t</s>
-2.0\t<unk>

\\2-grams:
-0.1\t<s> a\t-0.15
-0.4\ta b\t-0.05
-0.7\tb </s>

\\3-grams:
-0.2\t<s> a b

\\end\\
"""


@pytest.fixture
def hand_written_arpa(tmp_path):
    path = tmp_path / "hand.arpa"
    path.write_text(HAND_WRITTEN_ARPA, encoding="utf-8")
    return path


@pytest.mark.parametrize("token, history, expected", [
    ("b", ("<s>", "a"), -0.2),  # listed 3-gram
    ("b", ("b", "a", "<s>", "a"), -0.2),  # only the last order-1 tokens count
    ("</s>", ("<s>", "a"), -0.15 - 0.2 - 0.9),  # backoff(<s> a) + backoff(a) + p(</s>)
    ("</s>", ("a", "b"), -0.05 - 0.7),  # backoff(a b) + p(</s> | b)
    ("a", ("b",), -0.25 - 0.3),  # backoff(b) + p(a)
    ("a", ("<s>",), -0.1),
    ("b", ("</s>",), -0.6),  # </s> is not a listed context: back-off weight 0
    ("zebra", ("<s>", "a"), -0.15 - 0.2 - 2.0),  # not in the vocabulary: <unk>
])
def test_arpa_reader_gives_the_exact_log10_probabilities(hand_written_arpa, token, history, expected):
    lm = read_arpa(hand_written_arpa)
    assert lm.order == 3
    assert lm.log10_prob(token, history) == pytest.approx(expected, abs=1e-12)


def test_arpa_without_unk_gives_unknown_words_log10_minus_100(tmp_path):
    path = tmp_path / "no_unk.arpa"
    path.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-0.3\ta\n-0.2\t</s>\n\n\\end\\\n")
    assert read_arpa(path).log10_prob("zebra", ("a",)) == -100.0


@pytest.mark.parametrize("edit, message", [
    (("ngram 2=3", "ngram 2=4"), r"announces .* but the file lists"),
    (("-0.4\ta b\t-0.05", "-0.4\ta"), r"hand.arpa:16: a 2-gram line needs"),
    (("-0.7\tb </s>", "x\tb </s>"), r"hand.arpa:17: 'x' is not a log10 probability"),
    (("-0.7\tb </s>", "nan\tb </s>"), r"hand.arpa:17: 'nan' is not a log10 probability"),
    (("-0.7\tb </s>", "0.5\tb </s>"), r"hand.arpa:17: log10 probability 0.5 is above 0"),
    (("-0.4\ta b\t-0.05", "-0.4\ta b\tinf"), r"hand.arpa:16: 'inf' is not a log10 probability or back-off weight"),
    (("-0.7\tb </s>", "-0.7\ta b"), r"hand.arpa:17: the 2-gram 'a b' is listed a second time"),
])
def test_bad_arpa_files_name_the_file_and_line(hand_written_arpa, edit, message):
    hand_written_arpa.write_text(HAND_WRITTEN_ARPA.replace(*edit))
    with pytest.raises(LanguageModelError, match=message):
        read_arpa(hand_written_arpa)


def test_kneser_ney_counts_and_probabilities_by_hand(tmp_path):
    # <s> a b </s> and <s> b b </s>
    adjusted = kneser_ney_counts(raw_counts([["a", "b"], ["b", "b"]], order=2))
    # unigrams: continuation counts (distinct predecessors): a {<s>}, b {<s>, a, b}, </s> {b}; <s> keeps its raw 2
    assert adjusted[0] == {("<s>",): 2, ("a",): 1, ("b",): 3, ("</s>",): 1}
    assert adjusted[1] == {("<s>", "a"): 1, ("a", "b"): 1, ("b", "</s>"): 2, ("<s>", "b"): 1, ("b", "b"): 1}
    model = estimate([["a", "b"], ["b", "b"]], order=2)
    # D1: unigram counts 1, 3, 1 have no count 2 -> fallback 0.5; D2 = n1 / (n1 + 2 n2) = 4 / (4 + 2)
    assert model.discounts == [0.5, pytest.approx(2 / 3)]
    # p(w) = (c - 0.5) / 5 + 0.5 * 3 / 5 / 4 (vocabulary a, b, </s>, <unk>)
    assert model.probs[0] == pytest.approx({("a",): 0.175, ("b",): 0.575, ("</s>",): 0.175, ("<unk>",): 0.075})
    # context b: c(b </s>) = 2, c(b b) = 1; backoff = D2 * 2 types / 3 = 4/9
    assert model.backoffs[("b",)] == pytest.approx(4 / 9)
    assert model.probs[1][("b", "</s>")] == pytest.approx((2 - 2 / 3) / 3 + 4 / 9 * 0.175)
    assert model.probs[1][("b", "b")] == pytest.approx((1 - 2 / 3) / 3 + 4 / 9 * 0.575)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b\n\nb b\n")
    assert recog_lm([str(corpus), "-o", str(tmp_path / "lm.arpa"), "--order", "2"]) == 0
    lm = read_arpa(tmp_path / "lm.arpa")
    assert lm.log10_prob("a", ("b",)) == pytest.approx(math.log10(4 / 9 * 0.175), abs=1e-6)  # backed off
    assert lm.log10_prob("b", ("b",)) == pytest.approx(math.log10(1 / 9 + 4 / 9 * 0.575), abs=1e-6)


@pytest.mark.parametrize("unit, order", [("word", 3), ("char", 5), ("word", 1)])
def test_built_models_sum_to_one_in_every_context(tmp_path, unit, order):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat\nthe cat sat\nthe cat sat on the mat\na cat sat on a mat\nthe hat\n")
    assert recog_lm([str(corpus), "-o", str(tmp_path / "lm.arpa"), "--unit", unit, "--order", str(order)]) == 0
    lm = read_arpa(tmp_path / "lm.arpa")
    vocabulary = sorted(lm.vocabulary - {"<s>"})
    contexts = {gram[:-1] for gram in lm.log10_probs if len(gram) > 1} | {()}
    for context in contexts:
        assert sum(10 ** lm.log10_prob(w, context) for w in vocabulary) == pytest.approx(1.0, abs=1e-5), context


def test_recog_lm_reports_an_empty_text(tmp_path, capsys):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n  \n")
    assert recog_lm([str(corpus), "-o", str(tmp_path / "lm.arpa")]) == 2
    assert "empty.txt: no text to build a language model from" in capsys.readouterr().err


def test_an_lm_in_the_other_case_is_a_clear_error(tmp_path):
    corpus = tmp_path / "upper.txt"
    corpus.write_text("THE CAT\nTHE HAT\n")
    recog_lm([str(corpus), "-o", str(tmp_path / "upper.arpa")])
    with pytest.raises(LanguageModelError, match="upper.arpa: 3 of the LM's 3 words use characters the model's "
                                                 "alphabet lacks \\('ACEHT'\\); 5 of these characters are in the "
                                                 "alphabet in the other case \\('ACEHT'\\)"):
        word_ngram(tmp_path / "upper.arpa", Alphabet(list(" acehtz")), alpha=0.5, beta=1.0)


def test_a_character_lm_given_as_a_word_lm_is_a_clear_error(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat\nthe hat\n")
    assert recog_lm([str(corpus), "-o", str(tmp_path / "chars.arpa"), "--unit", "char", "--order", "2"]) == 0
    assert "char 2-gram from 2 sentences: 9 1-grams" in capsys.readouterr().out  # as the file says: <s> counts
    assert "ngram 1=9\n" in (tmp_path / "chars.arpa").read_text()
    with pytest.raises(LanguageModelError, match=r"chars.arpa: a character LM \(its tokens are single characters "
                                                  r"and <space>\): use it with decoder=beam_char_lm"):
        word_ngram(tmp_path / "chars.arpa", Alphabet(list(" acehtz")), alpha=0.5, beta=1.0)



def test_a_one_case_lm_for_a_model_that_writes_both_cases_is_a_warning(tmp_path, caplog):
    corpus = tmp_path / "upper.txt"
    corpus.write_text("THE CAT\nTHE HAT\n")
    recog_lm([str(corpus), "-o", str(tmp_path / "upper.arpa")])
    word_ngram(tmp_path / "upper.arpa", Alphabet(list(" acehtzACEHT")), alpha=0.5, beta=1.0)
    assert "upper.arpa: the LM is written in upper case only, and the model writes both cases" in caplog.text
    caplog.clear()
    word_ngram(tmp_path / "upper.arpa", Alphabet(list(" ACEHT")), alpha=0.5, beta=1.0)  # an upper-case model
    assert "written in upper case only" not in caplog.text


# case B09 with a language model, and what fusion adds ----------------------------------------------------------

def b09_decode(cases_dir, name: str, **settings) -> list:
    alphabet, log_probs = read_b09(cases_dir / name)
    decoder = BeamSearchDecoder(alphabet, beam_width=8, **settings)
    frames = torch.from_numpy(log_probs).unsqueeze(1)  # (T, 1, C)
    return alphabet, decoder.decode_batch(frames, torch.tensor([len(log_probs)]), num_best=3)[0]


@pytest.fixture
def b09_lms(cases_dir, tmp_path):
    corpus = cases_dir / "B09_lm_corpus.txt"
    assert recog_lm([str(corpus), "-o", str(tmp_path / "words.arpa"), "--order", "3"]) == 0
    assert recog_lm([str(corpus), "-o", str(tmp_path / "chars.arpa"), "--order", "5", "--unit", "char"]) == 0
    return {"word": functools.partial(word_ngram, tmp_path / "words.arpa"),
            "char": functools.partial(char_ngram, tmp_path / "chars.arpa")}


@pytest.mark.parametrize("name", ["B09_the_cat_peaked.csv", "B09_the_cat_ambiguous_space.csv"])
@pytest.mark.parametrize("unit", ["word", "char"])
def test_b09_beam_search_with_an_lm_built_by_recog_lm_gives_the_cat(cases_dir, b09_lms, name, unit):
    alphabet, hypotheses = b09_decode(cases_dir, name, language_model=b09_lms[unit], alpha=0.5, beta=1.0)
    assert alphabet.decode(hypotheses[0].labels) == "the cat"


def test_word_lm_fusion_adds_alpha_log_p_lm_and_beta_per_word_on_completion(cases_dir, b09_lms, tmp_path):
    alphabet, (best, *_) = b09_decode(cases_dir, "B09_the_cat_peaked.csv", language_model=b09_lms["word"],
                                      alpha=0.7, beta=0.4)
    lm = read_arpa(tmp_path / "words.arpa")
    log10_lm = lm.log10_prob("the", ("<s>",)) + lm.log10_prob("cat", ("<s>", "the")) + \
        lm.log10_prob("</s>", ("the", "cat"))
    assert best.score == pytest.approx(best.ctc_log_prob + 0.7 * math.log(10) * log10_lm + 0.4 * 2, abs=1e-9)


def test_char_lm_fusion_scores_every_character(cases_dir, b09_lms, tmp_path):
    alphabet, (best, *_) = b09_decode(cases_dir, "B09_the_cat_peaked.csv", language_model=b09_lms["char"],
                                      alpha=0.7, beta=0.4)
    lm = read_arpa(tmp_path / "chars.arpa")
    tokens = ["<s>", "t", "h", "e", "<space>", "c", "a", "t", "</s>"]
    log10_lm = sum(lm.log10_prob(tokens[i], tuple(tokens[max(0, i - 4) : i])) for i in range(1, len(tokens)))
    assert best.score == pytest.approx(best.ctc_log_prob + 0.7 * math.log(10) * log10_lm + 0.4 * 7, abs=1e-9)


def test_a_lexicon_allows_only_its_words(cases_dir, tmp_path):
    (tmp_path / "lexicon.txt").write_text("thecat\nhat\n")
    alphabet, hypotheses = b09_decode(cases_dir, "B09_the_cat_ambiguous_space.csv",
                                      lexicon=str(tmp_path / "lexicon.txt"))
    assert alphabet.decode(hypotheses[0].labels) == "thecat"
    assert hypotheses[0].score == hypotheses[0].ctc_log_prob  # a lexicon only forbids, it never adds


def test_hotwords_earn_their_weight_per_character(cases_dir):
    alphabet, plain = b09_decode(cases_dir, "B09_the_cat_peaked.csv")
    alphabet, boosted = b09_decode(cases_dir, "B09_the_cat_peaked.csv", hotwords=["the hat"], hotword_weight=3.0)
    assert alphabet.decode(boosted[0].labels) == "the hat"
    assert boosted[0].score == pytest.approx(boosted[0].ctc_log_prob + 3.0 * 7)  # a complete match keeps it all
    alphabet, kept = b09_decode(cases_dir, "B09_the_cat_peaked.csv", hotwords=["cat"], hotword_weight=3.0)
    assert alphabet.decode(kept[0].labels) == "the cat"
    assert kept[0].score == pytest.approx(kept[0].ctc_log_prob + 3.0 * 3)
    assert alphabet.decode(plain[0].labels) == "the cat" and plain[0].score == plain[0].ctc_log_prob


def test_scorers_need_the_blank_of_recog_alphabets():
    alphabet = Alphabet(list(" ab"))
    decoder = BeamSearchDecoder(alphabet, hotwords=["ab"], blank=3)
    with pytest.raises(DecodingError, match="whose blank is class 0, not 3"):
        decoder(torch.zeros(2, 1, 4).log_softmax(-1), torch.tensor([2]))


def test_a_word_lm_without_words_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.arpa"
    path.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-99\t<s>\n-0.3\t</s>\n-1\t<unk>\n\n\\end\\\n")
    with pytest.raises(LanguageModelError, match="empty.arpa: the LM lists no words besides </s>, <s>, <unk>"):
        BeamSearchDecoder(Alphabet(list(" ab")), language_model=functools.partial(word_ngram, path))


def test_a_lexicon_lists_one_word_per_line(tmp_path):
    (tmp_path / "lexicon.txt").write_text("ab\nab ba\n")
    with pytest.raises(LanguageModelError, match=r"lexicon.txt:2: 'ab ba' is more than one lexicon word"):
        BeamSearchDecoder(Alphabet(list(" ab")), lexicon=str(tmp_path / "lexicon.txt"))


def test_hotwords_and_lexicon_words_must_be_writable(tmp_path):
    alphabet = Alphabet(list(" abc"))
    with pytest.raises(LanguageModelError, match="hotword 'Abc': has characters the model cannot write"):
        BeamSearchDecoder(alphabet, hotwords=["Abc"])
    (tmp_path / "lexicon.txt").write_text("ab\ncad\n")
    with pytest.raises(LanguageModelError, match=r"lexicon.txt:2: lexicon word 'cad' has characters"):
        BeamSearchDecoder(alphabet, lexicon=str(tmp_path / "lexicon.txt"))


def spelled(scorer, alphabet: Alphabet, text: str):
    """The scorer's state for one beam that has spelled `text`."""
    states = scorer.initial_states()
    for label in alphabet.encode(text):
        states = scorer.advance(states, np.array([0]), np.array([label]))
    return states


def test_a_partial_word_pays_the_unknown_word_score_when_it_leaves_the_lm_vocabulary(hand_written_arpa):
    alphabet = Alphabet(list(" abz"))
    scorer = word_ngram(hand_written_arpa, alphabet, alpha=1.0, beta=0.5, unknown_word_score=-3.0)  # words a, b
    space, a, b, z = (alphabet.encode(c)[0] for c in " abz")
    lm = read_arpa(hand_written_arpa)
    unknown = math.log(10) * lm.log10_prob("<unk>", ("<s>", "a")) - 3.0
    (row,) = scorer.bonus(spelled(scorer, alphabet, "a "))  # at a word start: "a", "b" begin LM words, "z" not
    assert row[a] == 0 and row[b] == 0 and row[z] == pytest.approx(unknown)
    assert row[space] == 0  # no word to complete
    (row,) = scorer.bonus(spelled(scorer, alphabet, "a b"))  # "b" is complete: a space scores it; letters: unknown
    assert row[space] == pytest.approx(math.log(10) * -0.2 + 0.5)  # log10 p(b | <s> a) = -0.2
    assert row[a] == pytest.approx(unknown) and row[z] == pytest.approx(unknown)
    (row,) = scorer.bonus(spelled(scorer, alphabet, "a bz"))  # unknown, already paid for: its end only earns beta
    assert row[space] == 0.5 and row[a] == 0 and row[z] == 0
    assert (scorer.bonus(spelled(scorer, alphabet, "a bzaz")) == row).all()  # whatever follows
    (end,) = scorer.final_bonus(spelled(scorer, alphabet, "a bza"))
    assert end == pytest.approx(0.5 + math.log(10) * lm.log10_prob("</s>", ("a", "<unk>")))
    (row,) = scorer.bonus(spelled(scorer, alphabet, "a bz a"))  # <unk> is in the history of the next word
    assert row[space] == pytest.approx(math.log(10) * lm.log10_prob("a", ("<unk>",)) + 0.5)


class WithoutWordList:
    """What a KenLM binary file looks like to the scorer: probabilities, but no list of its words."""

    def __init__(self, lm):
        self.lm, self.order, self.vocabulary = lm, lm.order, None

    def log10_prob(self, token, history):
        return self.lm.log10_prob(token, history)


def test_an_lm_without_a_word_list_scores_each_word_when_it_ends(hand_written_arpa):
    alphabet = Alphabet(list(" abz"))
    space, a, z = (alphabet.encode(c)[0] for c in " az")
    lm = read_arpa(hand_written_arpa)
    scorer = WordLMScorer(WithoutWordList(lm), alphabet, alpha=1.0, beta=0.5, unknown_word_score=-10.0)
    (row,) = scorer.bonus(spelled(scorer, alphabet, "a bz"))
    assert row[a] == 0 and row[z] == 0  # no word is unknown before it ends
    assert row[space] == pytest.approx(math.log(10) * lm.log10_prob("<unk>", ("<s>", "a")) + 0.5)
    (end,) = scorer.final_bonus(spelled(scorer, alphabet, "a b"))
    assert end == pytest.approx(math.log(10) * (lm.log10_prob("b", ("<s>", "a")) + lm.log10_prob("</s>", ("a", "b")))
                                + 0.5)


def test_scorers_give_each_utterance_of_a_batch_exactly_what_it_gets_alone(hand_written_arpa, tmp_path):
    """The scorers' states of many utterances advance together (one table lookup per frame): nothing leaks from
    one utterance into another, whatever their lengths."""
    alphabet = Alphabet(list(" abz"))
    (tmp_path / "lexicon.txt").write_text("a\nb\nab\nba\n")
    decoder = BeamSearchDecoder(alphabet, beam_width=6, language_model=functools.partial(word_ngram, hand_written_arpa),
                                alpha=0.8, beta=0.3, lexicon=str(tmp_path / "lexicon.txt"), hotwords=["b a"])
    lengths = [11, 3, 0, 11, 7]
    generator = torch.Generator().manual_seed(0)
    log_probs = (3 * torch.randn(11, len(lengths), alphabet.num_classes, generator=generator)).log_softmax(-1)
    batched = decoder.decode_batch(log_probs, torch.tensor(lengths))
    alone = [decoder.decode_batch(log_probs[:length, n : n + 1], torch.tensor([length]))[0]
             for n, length in enumerate(lengths)]
    assert batched == alone
    assert {len(h.labels) for hypotheses in batched for h in hypotheses} != {0}  # they do spell something
