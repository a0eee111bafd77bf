"""The character LSTM language model: what fusion adds (exactly alpha * log p_lm + beta per character, the LM's
end of sentence at the end), batched beam states equal to reading each prefix alone, recog-train-lm end to end,
case B09 with the trained LM, and the load-time errors."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from recog.alphabet import Alphabet
from recog.char_lm import BOUNDARY, CharLMModule
from recog.decoding import BeamSearchDecoder, beam_search, build_decoder
from recog.decoding.char_lstm import CharLSTMScorer, char_lstm
from recog.decoding.decoders import decoder_config
from recog.decoding.ngram import LanguageModelError
from tests.conftest import REPO_ROOT, run, save_checkpoint
from tests.test_beam_search import read_b09

SMALL_LM = {"embedding_size": 8, "hidden_size": 16, "num_layers": 2, "dropout": 0.0}


def random_lm(symbols: str, seed: int = 0) -> CharLMModule:
    torch.manual_seed(seed)
    return CharLMModule(alphabet=list(symbols), model=SMALL_LM).eval()


def sentence_log_prob(module: CharLMModule, text: str, end: bool = True) -> float:
    """log p_lm(text [</s>]) read in one pass over the whole sequence."""
    tokens = [BOUNDARY, *module.alphabet.encode(text)]
    with torch.no_grad():
        log_probs, _ = module(torch.tensor(tokens)[:, None])  # (T, 1, V + 1)
    targets = [*tokens[1:], BOUNDARY] if end else tokens[1:]
    return float(sum(log_probs[t, 0, target] for t, target in enumerate(targets)))


def test_fusion_adds_alpha_log_p_lm_and_beta_per_character():
    alphabet = Alphabet(list(" abc"))
    module = random_lm(" abc")
    scorer = CharLSTMScorer(module.model, module.alphabet, alphabet, alpha=0.7, beta=0.4)
    log_probs = np.log(np.random.default_rng(0).dirichlet(np.ones(5), size=8))  # (T=8, C=5)
    hypotheses = beam_search(log_probs, beam_width=16, scorers=[scorer], num_best=5)
    assert len(hypotheses) == 5
    for hypothesis in hypotheses:
        text = alphabet.decode(hypothesis.labels)
        expected = hypothesis.ctc_log_prob + 0.7 * sentence_log_prob(module, text) + 0.4 * len(text)
        assert hypothesis.score == pytest.approx(expected, abs=1e-5), text


def test_batched_beam_states_equal_each_prefix_read_alone():
    alphabet = Alphabet(list("abc"))
    module = random_lm("abc")
    scorer = CharLSTMScorer(module.model, module.alphabet, alphabet, alpha=1.0, beta=0.0)
    states = scorer.initial_states()
    prefixes = [""]
    for parents, classes in (([0, 0, 0], [1, 2, 0]), ([2, 0, 1, 1], [3, 0, 2, 3])):  # 0 is the blank
        parents, classes = np.array(parents), np.array(classes)
        states = scorer.advance(states, parents, classes)
        prefixes = [prefixes[p] + ("" if c == 0 else alphabet.symbols[c - 1]) for p, c in zip(parents, classes)]
    assert prefixes == ["c", "a", "bb", "bc"]
    bonus = scorer.bonus(states)  # (B, C)
    for row, prefix in enumerate(prefixes):
        for label, symbol in enumerate(alphabet.symbols, start=1):
            expected = sentence_log_prob(module, prefix + symbol, end=False) - sentence_log_prob(module, prefix, end=False)
            assert bonus[row, label] == pytest.approx(expected, abs=1e-5)
        end = sentence_log_prob(module, prefix) - sentence_log_prob(module, prefix, end=False)
        assert scorer.final_bonus(states)[row] == pytest.approx(end, abs=1e-5)


def test_a_character_the_lm_never_saw_gets_its_lowest_score_and_leaves_its_state():
    module = random_lm("ab")
    scorer = CharLSTMScorer(module.model, module.alphabet, Alphabet(list("abz")), alpha=1.0, beta=0.0)
    states = scorer.initial_states()
    row = scorer.bonus(states)[0]
    assert row[3] == pytest.approx(states.next_log_probs[0].min())
    after_z = scorer.advance(states, np.array([0]), np.array([3]))
    np.testing.assert_array_equal(after_z.next_log_probs, states.next_log_probs)


@pytest.fixture(scope="module")
def b09_lstm(tmp_path_factory) -> str:
    """recog-train-lm on B09's 5-sentence corpus (validated on the same text: it is a memorisation check)."""
    from tests.conftest import shared_path
    corpus = shared_path("cases", "B09_lm_corpus.txt")
    run_dir = tmp_path_factory.mktemp("lm") / "run"
    run([sys.executable, "-m", "recog.train_lm", f"data.train={corpus}", f"data.val={corpus}", "data.batch_size=8",
         "model.hidden_size=64", "model.embedding_size=16", "model.num_layers=1", "trainer.max_epochs=150",
         "trainer.log_every_n_steps=10", "optimizer.lr=0.01", f"hydra.run.dir={run_dir}"], cwd=REPO_ROOT)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    best = run_dir / "checkpoints" / "best.ckpt"
    assert CharLMModule.load_from_checkpoint(best).alphabet.symbols == list(" acehmnost")
    assert metrics["val/bits_per_char"] < 1.0  # it learned the text (a uniform guess: log2(11) = 3.46 bits)
    return str(best)


@pytest.mark.parametrize("name", ["B09_the_cat_peaked.csv", "B09_the_cat_ambiguous_space.csv"])
def test_b09_beam_search_with_a_char_lstm_trained_by_recog_train_lm_gives_the_cat(cases_dir, b09_lstm, name):
    alphabet, log_probs = read_b09(cases_dir / name)
    decoder = build_decoder(decoder_config("beam_char_lstm", [f"language_model.path={b09_lstm}", "alpha=0.5",
                                                              "beam_width=8"]), alphabet)
    (best, *_), = decoder.decode_batch(torch.from_numpy(log_probs)[:, None], torch.tensor([len(log_probs)]))
    assert alphabet.decode(best.labels) == "the cat"


def test_lm_files_are_checked_when_loaded(tmp_path):
    with pytest.raises(LanguageModelError, match=r"missing.ckpt: no such file \(a checkpoint written by recog-train-lm\)"):
        char_lstm(tmp_path / "missing.ckpt", Alphabet(list("ab")), alpha=0.5, beta=0.0)
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(LanguageModelError, match=r"text.ckpt: not a checkpoint written by recog-train-lm"):
        char_lstm(tmp_path / "text.ckpt", Alphabet(list("ab")), alpha=0.5, beta=0.0)
    (tmp_path / "lm.arpa").write_text("\\data\\\nngram 1=1\n\n\\1-grams:\n-0.1\ta\n\n\\end\\\n")
    with pytest.raises(LanguageModelError, match=r"lm.arpa: an ARPA n-gram file, not a checkpoint written by "
                                                  r"recog-train-lm: use it with decoder=beam_word_lm or"):
        char_lstm(tmp_path / "lm.arpa", Alphabet(list("ab")), alpha=0.5, beta=0.0)
    lowercase = save_checkpoint(random_lm("abcdefgh "), tmp_path / "lower.ckpt")
    with pytest.raises(LanguageModelError, match=r"disagree on case"):
        char_lstm(lowercase, Alphabet(list("ABCDEFGH ")), alpha=0.5, beta=0.0)


def test_beam_decoder_takes_the_char_lstm_from_its_config(tmp_path):
    path = save_checkpoint(random_lm(" abc"), tmp_path / "lm.ckpt")
    decoder = build_decoder(decoder_config("beam_char_lstm", [f"language_model.path={path}", "alpha=0.3"]),
                            Alphabet(list(" abc")))
    assert isinstance(decoder, BeamSearchDecoder) and isinstance(decoder.scorers[0], CharLSTMScorer)
    assert decoder.scorers[0].alpha == 0.3
