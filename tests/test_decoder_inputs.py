"""What the decoders take: bad log-probs, lengths and settings are errors that say what is wrong, before any
decoding; numpy and torch inputs decode alike."""
import logging

import numpy as np
import pytest
import torch

from recog.alphabet import Alphabet
from recog.decoding import BeamSearchDecoder, DecodingError, GreedyDecoder, beam_search, beam_search_batch

ALPHABET = Alphabet(list(" ab"))  # 4 classes with the blank


def batch(frames: int = 3, samples: int = 2) -> torch.Tensor:
    """(T, N, C) log-probs of the alphabet's 4 classes."""
    logits = torch.randn(frames, samples, ALPHABET.num_classes, generator=torch.Generator().manual_seed(0))
    return logits.log_softmax(-1)


DECODERS = {
    "greedy": GreedyDecoder(ALPHABET),
    "beam": BeamSearchDecoder(ALPHABET, beam_width=4),
    "beam + hotwords": BeamSearchDecoder(ALPHABET, beam_width=4, hotwords=["ab"]),
    "beam_search_batch": lambda log_probs, lengths: [[h.labels for h in hypotheses] for hypotheses in
                                                     beam_search_batch(log_probs, lengths, beam_width=4)],
}


def with_value(frame: int, sample: int, value: float, log_probs: torch.Tensor | None = None) -> torch.Tensor:
    log_probs = batch() if log_probs is None else log_probs
    log_probs[frame, sample] = value
    return log_probs


@pytest.mark.parametrize("decoder", DECODERS.values(), ids=DECODERS.keys())
@pytest.mark.parametrize("log_probs, lengths, message", [
    (batch(), [2.5, 3], r"lengths must be whole numbers of frames per sample, got \[2.5, 3.0\]"),
    (batch(), [True, True], r"lengths must be whole numbers"),
    (batch(), ["3", "2"], r"lengths must be whole numbers"),
    (batch(), [3, 4], r"lengths \[3, 4\] do not fit log_probs of 3 frames x 2 samples"),
    (batch(), [3, -1], r"lengths \[3, -1\] do not fit"),
    (batch(), [3], r"lengths \[3\] do not fit log_probs of 3 frames x 2 samples \(T, N, C\): one length per sample"),
    (batch()[:, 0], [3], r"log_probs must be a \(T, N, C\) array, got shape \(3, 4\)"),
    (with_value(1, 1, float("nan")), [3, 3], r"frame 1 of sample 1: log_probs must be natural-log posteriors"),
    (batch().exp(), [3, 3], r"frame 0 of sample 0: log_probs must be natural-log posteriors .* apply log_softmax"),
    (with_value(2, 0, -float("inf")), [3, 3], r"frame 2 of sample 0: every class has log-probability -inf"),
    (np.full((1, 1, 4), "x"), [1], r"log_probs must be numbers \(a float array or tensor\), got dtype <U1"),
])
def test_bad_input_is_an_error_that_says_what_is_wrong(decoder, log_probs, lengths, message):
    with pytest.raises(DecodingError, match=message):
        decoder(log_probs, lengths)


@pytest.mark.parametrize("decoder", DECODERS.values(), ids=DECODERS.keys())
def test_padding_is_never_read(decoder):
    log_probs = with_value(2, 1, float("nan"), with_value(2, 0, -float("inf")))
    assert decoder(log_probs, [2, 2]) == decoder(log_probs[:2], [2, 2])


@pytest.mark.parametrize("name", ["greedy", "beam", "beam + hotwords"])
def test_the_class_count_must_match_the_decoders_alphabet(name):
    wider = torch.randn(3, 1, 7).log_softmax(-1)
    with pytest.raises(DecodingError, match="log_probs have 7 classes but the decoder's alphabet has 3 symbols "
                                            r"\+ the blank: decode with the alphabet the model was trained with"):
        DECODERS[name](wider, [3])


@pytest.mark.parametrize("decoder", DECODERS.values(), ids=DECODERS.keys())
def test_numpy_and_torch_inputs_decode_alike(decoder):
    log_probs = batch(6, 3)
    expected = decoder(log_probs, torch.tensor([6, 2, 0]))
    assert decoder(log_probs.numpy(), [6, 2, 0]) == expected
    assert decoder(log_probs.to(torch.float16), np.array([6, 2, 0], dtype=np.int32)) == expected
    read_only = log_probs.numpy().copy()
    read_only.flags.writeable = False
    assert decoder(read_only, (6, 2, 0)) == expected


@pytest.mark.parametrize("decoder", DECODERS.values(), ids=DECODERS.keys())
def test_frames_that_are_not_normalised_are_decoded_with_a_warning(decoder, caplog):
    log_probs = batch()
    log_probs[1, 0] -= 1.0  # its probabilities sum to 1/e
    with caplog.at_level(logging.WARNING):
        decoder(log_probs, [3, 3])
    assert "frame 1 of sample 0: the class probabilities sum to 0.368, not 1" in caplog.text


@pytest.mark.parametrize("setting, message", [
    ({"beam_width": 1.5}, r"beam_width must be a whole number of at least 1, not 1.5"),
    ({"beam_width": "8"}, r"beam_width must be a whole number of at least 1, not '8'"),
    ({"beam_width": True}, r"beam_width must be a whole number of at least 1, not True"),
    ({"beam_width": 0}, r"beam_width must be a whole number of at least 1, not 0"),
    ({"top_k": 0}, r"top_k must be a whole number of at least 1, not 0"),
    ({"num_best": -1}, r"num_best must be a whole number of at least 1, not -1"),
    ({"blank": 1.0}, r"blank must be a whole number of at least 0, not 1.0"),
    ({"blank": 4}, r"blank index 4 with 4 classes"),
    ({"min_log_prob": 0.5}, r"min_log_prob must be a natural-log probability \(<= 0, e.g. -10\) or None"),
    ({"min_log_prob": float("nan")}, r"min_log_prob must be a natural-log probability"),
])
def test_bad_search_settings_are_errors(setting, message):
    with pytest.raises(DecodingError, match=message):
        beam_search(batch()[:, 0].numpy(), **setting)


@pytest.mark.parametrize("setting", ["alpha", "beta", "hotword_weight"])
def test_fusion_weights_must_be_finite(setting):
    with pytest.raises(DecodingError, match=f"decoder.{setting} must be a finite number, not nan"):
        BeamSearchDecoder(ALPHABET, **{setting: float("nan")})


def test_a_hotword_given_as_one_string_is_one_hotword():
    log_probs = batch(4, 1)
    one_string = BeamSearchDecoder(ALPHABET, hotwords="ab").decode_batch(log_probs, [4])  # decoder.hotwords=ab
    assert one_string == BeamSearchDecoder(ALPHABET, hotwords=["ab"]).decode_batch(log_probs, [4])
    assert one_string != BeamSearchDecoder(ALPHABET, hotwords=["a", "b"]).decode_batch(log_probs, [4])


def test_a_beam_wider_than_all_labellings_finds_them_all():
    """10 frames, 3 labels: 12,178 labellings with a path; each beam's parent is found by sorting (comparing
    all pairs of beams would take 10^8 comparisons per frame)."""
    log_probs = torch.randn(10, 4, generator=torch.Generator().manual_seed(1)).double().log_softmax(-1).numpy()
    hypotheses = beam_search(log_probs, beam_width=10**6)
    assert len({h.labels for h in hypotheses}) == len(hypotheses) == 12_178
    assert np.logaddexp.reduce([h.ctc_log_prob for h in hypotheses]) == pytest.approx(0.0, abs=1e-9)
