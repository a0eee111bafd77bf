"""The decoders of conf/decoder/ as recog-eval and recog-transcribe build them, and how they read a batch."""
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from recog.alphabet import Alphabet
from recog.config import CONFIG_DIR
from recog.decoding import BeamSearchDecoder, GreedyDecoder, beam_search, build_decoder
from recog.decoding.decoders import decoder_config
from recog.decoding.ngram import LanguageModelError
from recog.errors import ConfigError

ALPHABET = Alphabet(list(" abc"))


def random_batch(seed: int, lengths: list[int]) -> torch.Tensor:
    """(T, N, C) log-probs, with NaN in the padding (a decoder that reads it fails)."""
    log_probs = torch.log_softmax(torch.randn(max(lengths), len(lengths), ALPHABET.num_classes,
                                              generator=torch.Generator().manual_seed(seed)), dim=-1)
    for sample, length in enumerate(lengths):
        log_probs[length:, sample] = float("nan")
    return log_probs


def test_beam_decoder_reads_each_sample_on_its_true_length_only():
    lengths = [7, 3, 0, 5]
    log_probs = random_batch(0, lengths)
    decoder = BeamSearchDecoder(ALPHABET, beam_width=4)
    expected = [list(beam_search(log_probs[:n, i].double().numpy(), beam_width=4)[0].labels)
                for i, n in enumerate(lengths)]
    assert decoder(log_probs, torch.tensor(lengths)) == expected
    assert expected[2] == []


@pytest.mark.parametrize("name, settings, decoder_type", [
    ("greedy", [], GreedyDecoder),
    ("beam", ["beam_width=5", "top_k=3"], BeamSearchDecoder),
])
def test_decoder_configs_build_their_decoder(name, settings, decoder_type):
    decoder = build_decoder(decoder_config(name, settings), ALPHABET)
    assert type(decoder) is decoder_type
    if name == "beam":
        assert decoder.search_settings == {"beam_width": 5, "top_k": 3, "min_log_prob": None, "blank": 0}


def test_lm_decoder_configs_load_their_model(tmp_path):
    (tmp_path / "corpus.txt").write_text("a b\nb c a\n")
    from recog.build_lm import main as recog_lm
    recog_lm([str(tmp_path / "corpus.txt"), "-o", str(tmp_path / "words.arpa")])
    recog_lm([str(tmp_path / "corpus.txt"), "-o", str(tmp_path / "chars.arpa"), "--unit", "char"])
    for name, lm in (("beam_word_lm", "words.arpa"), ("beam_char_lm", "chars.arpa")):
        decoder = build_decoder(decoder_config(name, [f"language_model.path={tmp_path / lm}", "alpha=0.25"]),
                                ALPHABET)
        (scorer,) = decoder.scorers
        assert scorer.alpha == pytest.approx(0.25 * np.log(10))
        if name == "beam_word_lm":
            assert scorer.unknown_word_score == -10.0  # pyctcdecode's default unk_score_offset


@pytest.mark.parametrize("name, settings, message", [
    ("beems", [], r"decoder 'beems' does not exist: choose one of beam, beam_char_lm, beam_char_lstm, beam_word_lm, greedy"),
    ("beam_word_lm", [], r"decoder beam_word_lm needs language_model.path: set it, e.g. language_model.path=FILE"),
    ("beam", ["beam_widht=3"], r"decoder beam: Could not override 'decoder.beam_widht'.*; settings are KEY=VALUE "
                               r"with the keys of conf/decoder/beam.yaml: beam_width, top_k, min_log_prob"),
    ("greedy", ["beam_width=3"], r"conf/decoder/greedy.yaml \(it has none; greedy is what runs without --decoder: "
                                 r"choose one, e.g. --decoder beam, or beam_word_lm for an LM\)"),
])
def test_decoder_config_errors_say_what_to_set(name, settings, message):
    with pytest.raises(ConfigError, match=message):
        decoder_config(name, settings)


def test_building_a_decoder_reports_user_errors_as_such(tmp_path):
    """recog-eval composes its decoder itself: what it builds gets the same errors as recog-transcribe's."""
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        unset = compose("eval", overrides=["decoder=beam_word_lm"]).decoder
        unknown = compose("eval", overrides=["decoder=beam", "+decoder.beamwidth=3"]).decoder
        missing_lm = compose("eval", overrides=["decoder=beam_word_lm",
                                                f"decoder.language_model.path={tmp_path / 'no.arpa'}"]).decoder
    with pytest.raises(ConfigError, match=r"decoder.language_model.path is not set: give it, e.g. "
                                          r"decoder.language_model.path=FILE"):
        build_decoder(unset, ALPHABET)
    with pytest.raises(ConfigError, match=r"decoder: .*unexpected keyword argument 'beamwidth' \(the settings a "
                                          r"decoder takes are the keys of its conf/decoder/ file\)"):
        build_decoder(unknown, ALPHABET)
    with pytest.raises(LanguageModelError, match=r"no.arpa: no such language model file"):
        build_decoder(missing_lm, ALPHABET)
