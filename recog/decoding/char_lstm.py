"""A character-level LSTM language model (recog/char_lm.py, trained by recog-train-lm) in shallow fusion.

Every beam carries the LSTM state after its prefix, as rows of batched tensors: h and c (layers, B, hidden), and
the LM's log-probabilities of the next token (B, V + 1). Appending character c to beam b earns
alpha * log p_lm(c | prefix) + beta; the end of the utterance earns alpha * log p_lm(</s> | prefix). Per frame,
the beams that appended a character take one LSTM step together; the others keep their parent's state.

The LM and the model need not share an alphabet: characters are matched by symbol. A character the model can
write and the LM never saw scores the LM's lowest log-probability in that state, and leaves the LM's state as
it is (the LM cannot read it).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from recog.alphabet import BLANK_INDEX, Alphabet
from recog.char_lm import BOUNDARY, CharLMModule, CharLSTM, LSTMState
from recog.decoding.ngram import LanguageModelError, check_vocabulary
from recog.decoding.scorers import Scorer

log = logging.getLogger(__name__)


@dataclass
class LSTMBeamStates:
    state: LSTMState  # h, c: (num_layers, B, hidden_size)
    next_log_probs: np.ndarray  # (B, V + 1) float64: log p_lm(next token | beam's prefix)


class CharLSTMScorer(Scorer):
    def __init__(self, lm: CharLSTM, lm_alphabet: Alphabet, alphabet: Alphabet, alpha: float, beta: float):
        self.lm = lm.eval()
        lm_tokens = {symbol: token for token, symbol in enumerate(lm_alphabet.symbols, start=1)}
        self.tokens = np.array([lm_tokens.get(symbol, -1) for symbol in alphabet.symbols])  # class c -> [c - 1]
        self.known = self.tokens >= 0
        self.alpha = alpha
        self.beta = beta

    @torch.inference_mode()
    def _read(self, tokens: np.ndarray, state: LSTMState | None) -> tuple[np.ndarray, LSTMState]:
        """One LSTM step for a batch of beams: tokens (B,) -> next-token log-probs (B, V + 1), new state."""
        log_probs, state = self.lm(torch.as_tensor(tokens, dtype=torch.long)[None], state)
        return log_probs[0].double().numpy(), state

    def initial_states(self) -> LSTMBeamStates:
        next_log_probs, state = self._read(np.array([BOUNDARY]), None)
        return LSTMBeamStates(state, next_log_probs)

    def bonus(self, states: LSTMBeamStates) -> np.ndarray:
        log_probs = states.next_log_probs
        lm_scores = np.where(self.known, log_probs[:, np.maximum(self.tokens, 0)], log_probs.min(axis=1)[:, None])
        return np.concatenate([np.zeros((len(log_probs), 1)), self.alpha * lm_scores + self.beta], axis=1)

    @torch.inference_mode()
    def advance(self, states: LSTMBeamStates, parents: np.ndarray, classes: np.ndarray) -> LSTMBeamStates:
        h, c = (tensor[:, torch.as_tensor(parents)] for tensor in states.state)
        next_log_probs = states.next_log_probs[parents]
        appended = np.flatnonzero(classes != BLANK_INDEX)
        tokens = self.tokens[classes[appended] - 1]
        read = appended[tokens >= 0]  # the new beams whose appended character the LM reads
        if read.size:
            rows = torch.as_tensor(read)
            read_log_probs, (read_h, read_c) = self._read(tokens[tokens >= 0], (h[:, rows], c[:, rows]))
            next_log_probs[read] = read_log_probs
            h[:, rows], c[:, rows] = read_h, read_c
        return LSTMBeamStates((h, c), next_log_probs)

    def final_bonus(self, states: LSTMBeamStates) -> np.ndarray:
        return self.alpha * states.next_log_probs[:, BOUNDARY]


def load_char_lstm(path: str | Path) -> CharLMModule:
    path = Path(path)
    if not path.is_file():
        raise LanguageModelError(f"{path}: no such file (a checkpoint written by recog-train-lm)")
    with path.open("rb") as handle:
        if b"\\data\\" in handle.read(4096):
            raise LanguageModelError(f"{path}: an ARPA n-gram file, not a checkpoint written by recog-train-lm: use "
                                     "it with decoder=beam_word_lm or decoder=beam_char_lm")
    try:
        return CharLMModule.load_from_checkpoint(path, map_location="cpu")
    except Exception as error:  # noqa: BLE001 - any failure to read it means the same to the user
        reason = str(error).splitlines()[0] if str(error) else ""
        raise LanguageModelError(f"{path}: not a checkpoint written by recog-train-lm ({type(error).__name__}: "
                                 f"{reason})") from None


def char_lstm(path: str | Path, alphabet: Alphabet, alpha: float, beta: float) -> CharLSTMScorer:
    """A recog-train-lm checkpoint in shallow fusion, its characters checked against the model's alphabet."""
    module = load_char_lstm(path)
    check_vocabulary(path, module.alphabet.symbols, alphabet.symbols, "characters")
    unseen = [symbol for symbol in alphabet.symbols if symbol not in module.alphabet]
    if unseen:
        log.warning("%s: the LM has never seen %d of the model's characters (%r); they get its lowest score",
                    path, len(unseen), "".join(unseen[:20]))
    return CharLSTMScorer(module.model, module.alphabet, alphabet, alpha, beta)
