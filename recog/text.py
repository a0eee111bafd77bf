"""Text normalisation: one function, applied identically wherever text is compared or encoded.

The same `TextNormalizer` cleans training transcripts before they are encoded (its settings travel in the
checkpoint) and puts references and hypotheses on an equal footing before scoring (case B10: lower-casing
"This" and "His" must give one word error, not four). Its `describe()` string is printed with every result
so a reader knows which normalisation a number was measured under.
"""
from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field

from recog.errors import ConfigError


@dataclass(frozen=True)
class TextNormalizer:
    """Unicode normal form, optional lower- or upper-casing, character replacements and whitespace collapsing.

    Replacements are applied after the Unicode normal form and before the casing, in insertion order,
    e.g. ``{"’": "'"}`` to merge typographic apostrophes into the ASCII one.
    """

    unicode_form: str | None = "NFC"
    lowercase: bool = False
    uppercase: bool = False  # e.g. speech corpora whose alphabet is upper case
    collapse_whitespace: bool = True
    replacements: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.unicode_form not in (None, "NFC", "NFD", "NFKC", "NFKD"):
            raise ConfigError(f"normalizer.unicode_form must be NFC, NFD, NFKC, NFKD or null, not {self.unicode_form!r}")
        if self.lowercase and self.uppercase:
            raise ConfigError("normalizer.lowercase and normalizer.uppercase cannot both be true")

    def __call__(self, text: str) -> str:
        if self.unicode_form:
            text = unicodedata.normalize(self.unicode_form, text)
        for old, new in self.replacements.items():
            text = text.replace(old, new)
        if self.lowercase:
            text = text.lower()
        if self.uppercase:
            text = text.upper()
        if self.collapse_whitespace:
            text = " ".join(text.split())
        return text

    def describe(self) -> str:
        steps = [self.unicode_form or "no unicode normalisation"]
        if self.replacements:
            steps.append(f"{len(self.replacements)} replacements")
        if self.lowercase:
            steps.append("lowercase")
        if self.uppercase:
            steps.append("uppercase")
        if self.collapse_whitespace:
            steps.append("collapse whitespace")
        return " + ".join(steps)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict | None) -> "TextNormalizer":
        settings = dict(settings or {})
        settings["replacements"] = dict(settings.get("replacements") or {})
        return cls(**settings)
