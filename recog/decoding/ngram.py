"""N-gram language models: an ARPA file reader with back-off, and KenLM's binary files through the kenlm module.

Both answer `log10_prob(token, history)`, the log10 probability of a token after a history of tokens (words,
or characters for a character LM), with "<s>" opening a sentence and "</s>" closing it, as in ARPA files:

    log10 p(w | h) = log10 P(h w)                      if the n-gram "h w" is listed
                   = backoff(h) + log10 p(w | h[1:])   otherwise (backoff(h) = 0 when h is not listed)

A token missing from the vocabulary is read as "<unk>"; a file without "<unk>" gives it log10 p = -100, as
KenLM does.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterable

from recog.errors import RecogError, read_utf8_lines

log = logging.getLogger(__name__)

SENTENCE_START, SENTENCE_END, UNKNOWN = "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = frozenset({SENTENCE_START, SENTENCE_END, UNKNOWN})
MISSING_UNKNOWN_LOG10 = -100.0
KENLM_BINARY_MAGIC = b"mmap lm "
LN_10 = math.log(10.0)  # log p = LN_10 * log10 p


class LanguageModelError(RecogError):
    pass


class ArpaModel:
    """An ARPA n-gram model in memory: log10 probabilities and back-off weights keyed by token tuples."""

    def __init__(self, order: int, log10_probs: dict[tuple[str, ...], float],
                 backoffs: dict[tuple[str, ...], float]):
        self.order = order
        self.log10_probs = log10_probs
        self.backoffs = backoffs
        self.vocabulary = frozenset(gram[0] for gram in log10_probs if len(gram) == 1)
        self.unknown_log10 = log10_probs.get((UNKNOWN,), MISSING_UNKNOWN_LOG10)

    def log10_prob(self, token: str, history: tuple[str, ...] = ()) -> float:
        if token not in self.vocabulary:
            token = UNKNOWN
        context = history[len(history) - self.order + 1:] if self.order > 1 else ()
        backoff = 0.0
        while True:
            gram = context + (token,)
            if gram in self.log10_probs:
                return backoff + self.log10_probs[gram]
            if not context:
                return backoff + self.unknown_log10
            backoff += self.backoffs.get(context, 0.0)
            context = context[1:]


def read_arpa(path: str | Path) -> ArpaModel:
    """Parse an ARPA file (\\data\\ counts, then \\N-grams: sections of `log10p<TAB>tokens[<TAB>backoff]`)."""
    lines = read_utf8_lines(path)
    expected: dict[int, int] = {}
    log10_probs: dict[tuple[str, ...], float] = {}
    backoffs: dict[tuple[str, ...], float] = {}
    section = None  # None before \data\, 0 in \data\, n in \n-grams:
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        where = f"{path}:{number}"
        if not line:
            continue
        if line == "\\data\\":
            section = 0
        elif line == "\\end\\":
            break
        elif line.startswith("\\") and line.endswith("-grams:"):
            section = _int(line[1:-len("-grams:")], where, "an n-gram order")
            if section not in expected:
                raise LanguageModelError(f"{where}: section {line} is not announced in \\data\\")
        elif section == 0 and line.startswith("ngram "):
            order, _, count = line[len("ngram "):].partition("=")
            expected[_int(order, where, "an n-gram order")] = _int(count, where, "an n-gram count")
        elif section:
            _read_entry(line, section, where, log10_probs, backoffs)
        elif section is None:
            continue  # text before \data\ is a comment in ARPA files
        else:
            raise LanguageModelError(f"{where}: {line!r} is not an 'ngram N=count' line of the \\data\\ section")
    if not expected:
        raise LanguageModelError(f"{path}: not an ARPA file (no \\data\\ section with 'ngram N=count' lines)")
    found = {n: 0 for n in expected}
    for gram in log10_probs:
        found[len(gram)] = found.get(len(gram), 0) + 1
    if found != expected:
        raise LanguageModelError(f"{path}: the \\data\\ section announces {expected} n-grams per order but the "
                                 f"file lists {found}: the file is truncated or edited")
    return ArpaModel(max(expected), log10_probs, backoffs)


def _read_entry(line: str, order: int, where: str, log10_probs: dict, backoffs: dict) -> None:
    fields = line.split()
    if len(fields) not in (order + 1, order + 2):
        raise LanguageModelError(f"{where}: a {order}-gram line needs a log10 probability, {order} tokens and an "
                                 f"optional back-off weight, got {line!r}")
    gram = tuple(fields[1 : order + 1])
    if gram in log10_probs:
        raise LanguageModelError(f"{where}: the {order}-gram {' '.join(gram)!r} is listed a second time")
    log10_probs[gram] = _float(fields[0], where)
    if log10_probs[gram] > 1e-6:
        raise LanguageModelError(f"{where}: log10 probability {fields[0]} is above 0 (a probability above 1)")
    if len(fields) == order + 2:
        backoffs[gram] = _float(fields[-1], where)


def _int(text: str, where: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise LanguageModelError(f"{where}: {text!r} is not {what}") from None


def _float(text: str, where: str) -> float:
    """A log10 probability (-inf allowed: probability 0) or back-off weight; never NaN or +inf."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value == math.inf:
        raise LanguageModelError(f"{where}: {text!r} is not a log10 probability or back-off weight")
    return value


class KenLMModel:
    """A KenLM binary file through the kenlm module, with the same log10_prob as ArpaModel."""

    def __init__(self, path: str | Path):
        import kenlm

        self._kenlm = kenlm
        self.model = kenlm.Model(str(path))
        self.order = self.model.order
        self.vocabulary = None  # a binary file does not list its vocabulary

    def log10_prob(self, token: str, history: tuple[str, ...] = ()) -> float:
        state = self._kenlm.State()
        if history[:1] == (SENTENCE_START,):
            self.model.BeginSentenceWrite(state)
            history = history[1:]
        else:
            self.model.NullContextWrite(state)
        for word in history:
            after = self._kenlm.State()
            self.model.BaseScore(state, word, after)
            state = after
        return self.model.BaseScore(state, token, self._kenlm.State())


def load_ngram(path: str | Path):
    """An ARPA file (our reader), or a KenLM binary file (needs the kenlm module)."""
    path = Path(path)
    if not path.is_file():
        raise LanguageModelError(f"{path}: no such language model file (give an ARPA file, e.g. from recog-lm)")
    with path.open("rb") as handle:
        binary = handle.read(len(KENLM_BINARY_MAGIC)) == KENLM_BINARY_MAGIC
    if not binary:
        return read_arpa(path)
    try:
        return KenLMModel(path)
    except ImportError:
        raise LanguageModelError(f"{path}: a KenLM binary file needs the kenlm module (pip install "
                                 "https://github.com/kpu/kenlm/archive/master.zip), or give the ARPA file") from None


def check_vocabulary(path: str | Path, units: Iterable[str], symbols: Iterable[str], what: str) -> list[str]:
    """The LM's units (words, or characters) the model cannot write; an error when most of them are, naming the
    characters (and the case, when the LM's case differs from the alphabet's)."""
    symbols = set(symbols)
    units = [u for u in units if u not in SPECIAL_TOKENS]
    unwritable = [u for u in units if not set(u) <= symbols]
    if units and len(unwritable) * 2 > len(units):
        missing = sorted(set("".join(unwritable)) - symbols)
        case = [c for c in missing if c.swapcase() in symbols]
        hint = (f"; {len(case)} of these characters are in the alphabet in the other case ({''.join(case)!r}): the LM "
                "and the model disagree on case, rebuild the LM from text in the model's case (recog-lm "
                "--lowercase or --uppercase)" if case else
                "; build the LM from text written with the model's alphabet")
        raise LanguageModelError(f"{path}: {len(unwritable)} of the LM's {len(units)} {what} use characters the "
                                 f"model's alphabet lacks ({''.join(missing[:30])!r}){hint}")
    warn_if_one_case_only(path, units, symbols)
    return unwritable


def warn_if_one_case_only(path: str | Path, units: list[str], symbols: set[str]) -> None:
    """An LM written in one case for a model that writes both passes the check above, but never predicts the
    other case: say so."""
    model_cases = {c.isupper() for c in symbols if c.isalpha() and c.lower() != c.upper()}
    letters = [c for unit in units for c in unit if c.isalpha() and c.lower() != c.upper()]
    lm_cases = {c.isupper() for c in letters}
    if len(model_cases) == 2 and len(lm_cases) == 1:
        case = "upper" if lm_cases == {True} else "lower"
        log.warning("%s: the LM is written in %s case only, and the model writes both cases: it will push the "
                    "decoder towards %s-case text; build it from text in the model's own case", path, case, case)
