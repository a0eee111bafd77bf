"""English-looking text lines for the synthetic line dataset.

A word list and a tiny sentence grammar produce running text; a line is a
window of consecutive words cut out of it, so (as in IAM) a line may start or
end in the middle of a sentence. Names, places, acronyms and codes are chosen
so that every letter, upper and lower case, and every digit occurs often.
"""

from __future__ import annotations

import random

FORBIDDEN_CHARACTERS = "|`~^\\{}<>@_"
# Printable ASCII (space included) minus the characters above: 84 symbols.
ALPHABET = "".join(
    chr(code) for code in range(32, 127) if chr(code) not in FORBIDDEN_CHARACTERS
)

MIN_WORDS, MAX_WORDS = 3, 9
MIN_CHARS, MAX_CHARS = 10, 55
SENTENCE_END_MARKS = (".", "!", "?", "...")

UPPERCASE = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

NOUNS = """
account address afternoon age air animal answer apple area arm army art
baby back bag ball bank bed bird board boat body book bottle box boy bread
bridge brother budget building bus business cake camera car card case cat
chair chance change child church city class clock club coat coffee college
committee company corner country court cup day decision desk dinner doctor
dog door dozen dream dress edge egg engine evening example eye face fact
factory family farm father field fire fish floor flower food forest fox
friend front game garden gate girl glass government group hand head heart
hill history holiday horse hospital hotel hour house idea island jacket jar
jazz job joke journey judge juice key kitchen knee knife lake language law
leader letter library light line list lunch machine market matter meeting
member message minute mirror moment money month morning mother mountain
music name nation newspaper night noise number office oven owner page paper
park party pen people phone picture piece place plan plate player pocket
police problem program project puzzle quarter queen question queue quiz
radio rain reason report river road room rule school sea season shop side
sister size sky song speech square station story street student summer sun
system table tax teacher team text thing ticket time town toy train tree
trip truck uncle valley van video view village voice wall watch water way
week wheel window winter woman word work world year yard zebra zone zoo
""".split()

ADJECTIVES = """
able afraid angry bad beautiful big black blue bright broken busy calm
careful cheap clean clear cold complex crazy dark dear deep dirty dizzy dry
early easy empty equal exact expensive extra famous fast fine foxy free
fresh frozen full funny fuzzy gentle glad golden good grand great green
happy hard heavy high hot huge jolly joyful junior kind large last late
lazy light little long loud lovely low lucky major modern narrow new next
nice old open plain polite poor proud quick quiet rare ready red rich right
rough round royal sad safe sharp short silent simple slow small soft
strange strong sudden sweet tall thick thin tiny tired true ugly usual
vague vast violet warm weak wet white whole wide wild wise wooden yellow
young zany
well-known old-fashioned long-term half-empty self-made last-minute
""".split()

# (base form, past form) pairs.
VERBS = [
    tuple(pair.split("/"))
    for pair in """
ask/asked bake/baked borrow/borrowed bring/brought build/built buy/bought
call/called carry/carried catch/caught change/changed check/checked
choose/chose close/closed cook/cooked cross/crossed drive/drove
enjoy/enjoyed explain/explained fetch/fetched find/found fix/fixed
follow/followed forget/forgot freeze/froze give/gave hold/held join/joined
judge/judged jump/jumped keep/kept kick/kicked know/knew leave/left
like/liked lose/lost make/made mix/mixed move/moved need/needed open/opened
order/ordered pack/packed paint/painted pay/paid pick/picked place/placed
play/played pull/pulled push/pushed quote/quoted raise/raised reach/reached
read/read remember/remembered repair/repaired request/requested sell/sold
send/sent show/showed sign/signed solve/solved squeeze/squeezed start/started
take/took tell/told throw/threw touch/touched try/tried use/used visit/visited
wait/waited want/wanted wash/washed watch/watched wax/waxed win/won
wrap/wrapped write/wrote zip/zipped
""".split()
]

ADVERBS = """
quickly quietly slowly early later yesterday today exactly rarely gently
jointly frankly fairly almost always never often soon again suddenly
happily simply nearly already certainly probably quite really very
""".split()

PREPOSITIONS = """
about above across after against along among around before behind below
beside between beyond by during for from inside into near of off on outside
over past since through to toward under until with within without
""".split()

DETERMINERS = "the the the a a this that every each some his her their our my your no".split()
SUBJECT_PRONOUNS = "I you he she it we they".split()
OBJECT_PRONOUNS = "me you him her it us them".split()
CONJUNCTIONS = "and and but so because although while when since yet or".split()
MODALS = "will would could should might must can may".split()
NEGATIONS = "didn't don't won't can't couldn't wouldn't shouldn't".split()
OPENERS = [
    "However", "Meanwhile", "Of course", "Quite frankly", "Yesterday",
    "Later", "Even so", "In fact", "Just then", "Next week", "Oh", "Yes", "No",
]
TITLES = "Mr. Mrs. Ms. Dr. Prof. Sir".split()

FIRST_NAMES = """
Alice Arthur Bella Brian Clara Charles Daniel Diana Edward Emma Frank Fiona
George Grace Henry Helen Isaac Irene Jack Julia Kevin Karen Laura Leo Mary
Martin Nora Noah Oliver Olga Peter Paula Quentin Queenie Robert Rosa Sam
Sarah Thomas Tina Ursula Ulrich Victor Vera Walter Wendy Xavier Xena Yusuf
Yvonne Zachary Zoe
""".split()

SURNAMES = """
Adams Baker Clarke Dixon Evans Fox Green Hughes Irving Jones King Lewis Moore
Nash Owen Price Quinn Reed Smith Turner Upton Vaughan Walker Xu Young Zhang
""".split()

PLACES = """
Amsterdam Berlin Cairo Dublin Edinburgh Florence Geneva Hamburg Istanbul
Jakarta Kyoto London Madrid Naples Oxford Paris Quebec Rome Sydney Toronto
Utrecht Vienna Warsaw Xiamen York Zurich
""".split()

WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = """
January February March April May June July August September October
November December
""".split()
ACRONYMS = "BBC NATO UN USA EU UK IBM BMW FIFA UNESCO NASA OPEC TV DJ VIP".split()
# Appended to a few sentences so that these symbols are seen at all.
RARE_SYMBOL_TAILS = ("*", "[1]", "[2]", "(see p. 7)", "+ 1", "= 0", "#4", "x 2", "etc.")
NUMBER_WORDS = "two three four five six seven eight nine ten twelve twenty fifty".split()


def generate_text_line(rng: random.Random) -> str:
    """Return one line of 3-9 words and 10-55 characters drawn with `rng`."""
    while True:
        # Tokens such as "2 o'clock" hold spaces; IAM words never do.
        words = " ".join(_running_text(rng, MAX_WORDS + 20)).split(" ")
        start = 0 if rng.random() < 0.4 else rng.randrange(len(words) - MAX_WORDS)
        window = words[start:start + rng.randint(MIN_WORDS, MAX_WORDS)]
        while len(" ".join(window)) > MAX_CHARS and len(window) > MIN_WORDS:
            window.pop()
        line = " ".join(window)
        if MIN_CHARS <= len(line) <= MAX_CHARS:
            return line


def _running_text(rng: random.Random, min_words: int) -> list[str]:
    words: list[str] = []
    end_mark = "."
    while len(words) < min_words:
        sentence = _sentence(rng)
        if end_mark in SENTENCE_END_MARKS:
            sentence[0] = _capitalise(sentence[0])
        end_mark = _end_mark(rng)
        _attach_or_separate(sentence, end_mark, rng)
        words += sentence
    return words


def _sentence(rng: random.Random) -> list[str]:
    """A sentence without its end mark and initial capital."""
    words = _opener(rng) + _clause(rng)
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        words += _prepositional_phrase(rng)
    if rng.random() < 0.3:
        _attach_or_separate(words, ",", rng)
        if rng.random() < 0.15:
            words.append("-")
        words += [rng.choice(CONJUNCTIONS)] + _clause(rng)
    _decorate(words, rng)
    return words


def _opener(rng: random.Random) -> list[str]:
    roll = rng.random()
    if roll < 0.12:
        words = rng.choice(OPENERS).split()
    elif roll < 0.2:
        words = _prepositional_phrase(rng)
    else:
        return []
    _attach_or_separate(words, ",", rng)
    return words


def _clause(rng: random.Random) -> list[str]:
    subject = _subject(rng)
    verb = _verb_phrase(rng)
    adverb = [rng.choice(ADVERBS)] if rng.random() < 0.2 else []
    return subject + adverb + verb + _object(rng)


def _subject(rng: random.Random) -> list[str]:
    if rng.random() < 0.3:
        return [rng.choice(SUBJECT_PRONOUNS)]
    return _noun_phrase(rng)


def _object(rng: random.Random) -> list[str]:
    if rng.random() < 0.15:
        return [rng.choice(OBJECT_PRONOUNS)]
    return _noun_phrase(rng)


def _verb_phrase(rng: random.Random) -> list[str]:
    base, past = rng.choice(VERBS)
    roll = rng.random()
    if roll < 0.6:
        return [past]
    if roll < 0.8:
        return [rng.choice(MODALS), base]
    if roll < 0.9:
        return [rng.choice(NEGATIONS), base]
    return ["has" if rng.random() < 0.5 else "had", past]


def _noun_phrase(rng: random.Random) -> list[str]:
    roll = rng.random()
    if roll < 0.3:
        return _person(rng)
    if roll < 0.45:
        return [_quantity(rng), _plural(rng.choice(NOUNS))]
    if roll < 0.5:
        return ["the", _code(rng)] + ([rng.choice(NOUNS)] if rng.random() < 0.5 else [])
    words = [rng.choice(DETERMINERS)]
    if rng.random() < 0.5:
        words.append(rng.choice(ADJECTIVES))
    words.append(rng.choice(NOUNS))
    if rng.random() < 0.08:
        words.append(f"({_parenthetical(rng)})")
    return words


def _person(rng: random.Random) -> list[str]:
    roll = rng.random()
    if roll < 0.35:
        name = [rng.choice(FIRST_NAMES)]
    elif roll < 0.6:
        name = [rng.choice(FIRST_NAMES), rng.choice(SURNAMES)]
    elif roll < 0.8:
        name = [rng.choice(TITLES), rng.choice(SURNAMES)]
    else:
        return [rng.choice(FIRST_NAMES) + "'s", rng.choice(NOUNS)]
    if rng.random() < 0.1:
        name += ["&", rng.choice(SURNAMES)]
    return name


def _prepositional_phrase(rng: random.Random) -> list[str]:
    roll = rng.random()
    if roll < 0.35:
        return [rng.choice(PREPOSITIONS)] + _noun_phrase(rng)
    if roll < 0.5:
        return ["in", rng.choice(PLACES)]
    if roll < 0.6:
        return ["in", rng.choice(MONTHS), _year(rng)]
    if roll < 0.7:
        return ["at", _time_of_day(rng)]
    if roll < 0.8:
        return ["on", rng.choice(WEEKDAYS)] if rng.random() < 0.6 else ["on", _date(rng)]
    if roll < 0.9:
        return ["for", _price(rng)]
    return ["by", f"{rng.randint(1, 99)}%"]


def _quantity(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(NUMBER_WORDS)
    if roll < 0.7:
        return str(rng.randint(2, 99))
    if roll < 0.85:
        return str(rng.randint(100, 999))
    return f"{rng.randint(1, 99)},{rng.randint(0, 999):03d}"


def _year(rng: random.Random) -> str:
    return str(rng.randint(1800, 2029))


def _time_of_day(rng: random.Random) -> str:
    hour, minute = rng.randint(1, 12), rng.randrange(0, 60, 5)
    roll = rng.random()
    if roll < 0.2:
        return f"{hour} o'clock"
    separator = ":" if roll < 0.8 else "."
    return f"{hour}{separator}{minute:02d}"


def _date(rng: random.Random) -> str:
    day, month = rng.randint(1, 28), rng.randint(1, 12)
    if rng.random() < 0.5:
        return f"{day}/{month:02d}/{rng.randint(0, 99):02d}"
    suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd"}.get(day, "th")
    return f"{day}{suffix} {rng.choice(MONTHS)}"


def _price(rng: random.Random) -> str:
    amount = f"{rng.randint(0, 99)}.{rng.randint(0, 99):02d}"
    return "$" + amount if rng.random() < 0.5 else amount


def _code(rng: random.Random) -> str:
    """A reference code such as `QX-47` or an acronym; spreads out capitals."""
    if rng.random() < 0.5:
        return rng.choice(ACRONYMS)
    letters = "".join(rng.choice(UPPERCASE) for _ in range(rng.randint(2, 3)))
    return f"{letters}-{rng.randint(1, 999)}" if rng.random() < 0.6 else letters


def _parenthetical(rng: random.Random) -> str:
    return rng.choice((_year, _quantity, _price, _code))(rng)


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _decorate(words: list[str], rng: random.Random) -> None:
    """Add quotes, ALL-CAPS words and the odd rare symbol, in place."""
    if rng.random() < 0.1:
        start = rng.randrange(len(words))
        end = min(len(words), start + rng.randint(1, 3)) - 1
        quote = '"' if rng.random() < 0.7 else "'"
        words[start] = quote + words[start]
        words[end] += quote
    if rng.random() < 0.15:
        index = rng.randrange(len(words))
        words[index] = words[index].upper()
    if rng.random() < 0.08:
        words += rng.choice(RARE_SYMBOL_TAILS).split()


def _attach_or_separate(words: list[str], mark: str, rng: random.Random) -> None:
    """Append punctuation to the last word, or as its own token as IAM often does."""
    if rng.random() < 0.1:
        words.append(mark)
    else:
        words[-1] += mark


def _end_mark(rng: random.Random) -> str:
    return rng.choices((".", "!", "?", ";", ":", "..."), weights=(70, 8, 10, 6, 3, 3))[0]


def _capitalise(word: str) -> str:
    for index, character in enumerate(word):
        if character.isalpha():
            return word[:index] + character.upper() + word[index + 1:]
    return word
