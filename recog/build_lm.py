"""recog-lm TEXT -o LM.arpa : build a word or character n-gram language model (interpolated Kneser-Ney, ARPA).

    recog-lm corpus.txt -o words3.arpa --order 3                    # word 3-gram: tokens are whitespace-separated
    recog-lm corpus.txt -o chars6.arpa --order 6 --unit char        # character 6-gram: <space> between words

One sentence per line. Write the text in the model's alphabet and case (--lowercase / --uppercase convert it):
the decoder checks the LM against the model's alphabet when it loads it. The ARPA file is what KenLM's lmplz
writes, so `decoder.language_model.path=` accepts either.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recog.alphabet import SPACE_TOKEN
from recog.decoding.kneser_ney import estimate, write_arpa
from recog.errors import DataError, RecogError, read_utf8_lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recog-lm", description=__doc__.split("\n\n")[0])
    parser.add_argument("text", type=Path, help="UTF-8 text file, one sentence per line")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the ARPA file to write")
    parser.add_argument("--order", type=int, default=3, help="n of the n-gram (default 3)")
    parser.add_argument("--unit", choices=("word", "char"), default="word",
                        help="word (default) or char tokens")
    case = parser.add_mutually_exclusive_group()
    case.add_argument("--lowercase", action="store_true", help="lower-case the text first")
    case.add_argument("--uppercase", action="store_true", help="upper-case the text first")
    return parser.parse_args(argv)


def tokenise(line: str, unit: str) -> list[str]:
    words = line.split()
    if unit == "word":
        return words
    return [SPACE_TOKEN if c == " " else c for c in " ".join(words)]


def read_sentences(path: Path, unit: str, lowercase: bool, uppercase: bool) -> list[list[str]]:
    sentences = []
    for line in read_utf8_lines(path):
        line = line.lower() if lowercase else line.upper() if uppercase else line
        if line.split():
            sentences.append(tokenise(line, unit))
    if not sentences:
        raise DataError(f"{path}: no text to build a language model from (the file has no "
                        "non-blank line)")
    return sentences


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.order < 1:
            raise RecogError(f"--order {args.order}: the n-gram order must be at least 1")
        sentences = read_sentences(args.text, args.unit, args.lowercase, args.uppercase)
        model = estimate(sentences, args.order)
        write_arpa(model, args.output)
    except RecogError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {args.output}: cannot write the language model ({error.strerror})", file=sys.stderr)
        return 2
    counts = ", ".join(f"{len(p) + (k == 1)} {k}-grams" for k, p in enumerate(model.probs, start=1))  # 1: + <s>
    print(f"{args.output}: {args.unit} {args.order}-gram from {len(sentences)} sentences: {counts}; "
          f"discounts {', '.join(f'{d:.4f}' for d in model.discounts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
