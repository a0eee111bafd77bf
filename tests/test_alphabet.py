import pytest

from recog.alphabet import (BLANK_INDEX, UNKNOWN_SYMBOL, Alphabet, UnknownCharacterError,
                            find_unknown_characters)
from recog.errors import ConfigError
from recog.text import TextNormalizer


def test_blank_is_reserved_and_symbols_start_at_one():
    alphabet = Alphabet.from_texts(["ab", "ba c"])
    assert alphabet.symbols == [" ", "a", "b", "c"]
    assert alphabet.num_classes == 5
    assert alphabet.encode("abc a") == [2, 3, 4, 1, 2]
    assert BLANK_INDEX not in alphabet.encode("abc a")


def test_b04_hyphen_is_an_ordinary_character():
    text = "co-operation"
    alphabet = Alphabet.from_texts([text])
    encoded = alphabet.encode(text)
    assert "-" in alphabet and alphabet.encode("-") == [1]  # sorted: "-" first, class 1, not the blank
    assert BLANK_INDEX not in encoded
    assert alphabet.decode(encoded) == text


def test_round_trip_for_every_string_over_the_alphabet():
    alphabet = Alphabet(list("-_ aZ0|'\"é’"))
    for text in ["", "-", "_-_", "a-Z 0|'\"", "é’é", "---   "]:
        assert alphabet.decode(alphabet.encode(text)) == text


def test_unknown_characters_raise_unless_the_alphabet_has_an_unknown_symbol():
    alphabet = Alphabet(list("abc"))
    with pytest.raises(UnknownCharacterError, match="'x'"):
        alphabet.encode("abx")
    with_unknown = alphabet.extended([UNKNOWN_SYMBOL])
    assert with_unknown.encode("abx") == [1, 2, 4]


def test_extension_keeps_existing_indices():
    alphabet = Alphabet(list("ba"))
    extended = alphabet.extended("zcb")
    assert extended.symbols == ["b", "a", "c", "z"]


def test_file_round_trip_writes_space_as_token(tmp_path):
    alphabet = Alphabet([" ", "a", "-"])
    alphabet.to_file(tmp_path / "alphabet.txt")
    assert (tmp_path / "alphabet.txt").read_text() == "<space>\na\n-\n"
    assert Alphabet.from_file(tmp_path / "alphabet.txt") == alphabet


def test_find_unknown_characters_names_characters_and_line_ids():
    alphabet = Alphabet(list("abc "))
    found = find_unknown_characters(alphabet, [("l1", "ab é"), ("l2", "abc"), ("l3", "é×")])
    assert found == {"×": ["l3"], "é": ["l1", "l3"]}


def test_normalizer():
    normalizer = TextNormalizer(lowercase=True, replacements={"’": "'"})
    assert normalizer("  It’s  A\tTest ") == "it's a test"
    assert normalizer("e\u0301") == "é"  # NFC composes
    assert TextNormalizer.from_dict(normalizer.to_dict()) == normalizer


def test_upper_casing_normalizer_and_its_conflict_with_lower_casing():
    assert TextNormalizer(uppercase=True, replacements={"’": "'"})("it’s  done") == "IT'S DONE"
    with pytest.raises(ConfigError, match="lowercase and normalizer.uppercase"):
        TextNormalizer(lowercase=True, uppercase=True)
