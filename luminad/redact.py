"""The do-not-store filter: finds secrets in what the user said and redacts them.

It runs before anything is persisted or sent out (``Lumina.record_utterance``, memories, the
agent's prompt, the web search query): "my PIN is 4921" is stored as "my PIN is [redacted: PIN]".

A secret is a *value* given for a secret thing ("PIN", "password", "API key", "card number", ...),
or a value that is a secret by its shape (a card number that passes Luhn, a US social security
number, an IBAN, an API key). Mentioning the thing without a value ("I forgot my password",
"pass the salt", "the key to success") is not a secret. Measured on a labelled set:
``bench/secret_filter.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Words that name a secret, by the label the redaction shows.
_STRONG = {
    "password": r"pass\s*words?|pass\s*phrases?|pwd",
    "passcode": r"pass\s*codes?|unlock\s+codes?|lock\s*screen\s+codes?",
    "PIN": r"pins?(?:\s+(?:codes?|numbers?))?",
    "security code": r"security\s+codes?|cvv2?|cvc2?|csc",
    "code": r"(?:alarm|door|gate|garage|safe|access|entry|verification|one[\s-]time|2fa|"
    r"two[\s-]factor|backup|recovery)\s+(?:codes?|keys?)",
    "API key": r"api\s*keys?|secret\s*keys?|private\s*keys?|access\s*keys?|auth(?:entication)?"
    r"\s*tokens?|access\s*tokens?|bearer\s*tokens?|api\s*tokens?|(?:github|slack|openai|aws|"
    r"personal\s+access)\s*(?:tokens?|keys?)|client\s+secrets?",
    "social security number": r"social\s+security(?:\s+numbers?)?|ssn|national\s+insurance"
    r"(?:\s+numbers?)?|tax\s+id(?:\s+numbers?)?",
    "card number": r"(?:credit|debit|bank)\s*cards?(?:\s+numbers?)?|card\s+numbers?",
    "account number": r"(?:bank\s+)?account\s+numbers?|routing\s+numbers?|sort\s+codes?|iban",
    "recovery phrase": r"(?:seed|recovery|mnemonic|wallet)\s+(?:phrases?|words?)",
    "login": r"log\s*-?ins?|sign\s*-?ins?|credentials?",
}
_CUE = re.compile(
    r"\b(?:(?P<kind>" + "|".join(f"(?P<k{i}>{p})" for i, p in enumerate(_STRONG.values())) + r"))"
    r"\b",
    re.IGNORECASE,
)
_KINDS = list(_STRONG)

#: Plain words that name a secret only when a number or a code-like value follows
#: ("the code is 4921", "my token is 7f3a-99x"), and never in these phrases.
_WEAK = re.compile(r"\b(?P<kind>codes?|keys?|tokens?|secrets?|pass)\b", re.IGNORECASE)
_WEAK_NOT_AFTER = frozenset(
    """zip post postal area country dress source error status bar qr morse promo discount
    coupon colour color product tracking flight booking reference order confirmation house car
    front back spare room hotel answer music piano""".split()  # noqa: SIM905
)

# Between the thing and its value: an optional "for gmail" / "to the shared drive", then what
# states the value: "is", "=", ":", ", it's", "was changed to", plus spoken fillers ("like").
_STATED = re.compile(
    r"(?:\s+(?:for|to|on|at|of|in)\s+(?:the\s+|my\s+|our\s+)?[\w.@'-]+(?:\s+[\w.@'-]+){0,2}?)?"
    r"(?:\s*[:=]\s*|\s*,?\s+(?:it\s+is|it's|that's|which\s+is)\s+|'s\s+"
    r"|\s+(?:(?:is|was|has\s+been)\s+(?:set|changed)\s+to|is\s+now|will\s+be|changed\s+to"
    r"|number\s+is|code\s+is|is|was|are|were|reads|equals)\s*[:=]?\s*)"
    r"(?:(?:like|uh|um|er|just|actually|basically)[\s,]+)*",
    re.IGNORECASE,
)
_NUMBER_WORDS = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple)"
_DIGITS = re.compile(
    r"(?:\d[\d -]*\d|\d|(?:" + _NUMBER_WORDS + r"[\s,-]+){2,}" + _NUMBER_WORDS + r")\b",
    re.IGNORECASE,
)
# One token with a digit or a symbol in it (trailing punctuation left out).
_TOKEN = re.compile(r"""(?=[^\s,;"]*[\d_@#$%^&*+=/\\~!-])[^\s,;"]*[^\s,;".!?'"]""")
# A number followed by what it counts or measures: a size or a time, not a secret.
_QUANTITY = re.compile(
    r"(?:\d+|" + _NUMBER_WORDS + r")(?:\s+or\s+(?:\d+|" + _NUMBER_WORDS + r"))?\s*"
    r"(?:digits?|characters?|chars?|letters?|numbers?|symbols?|words?|lines?|pages?|bytes?|"
    r"bits?|times|tries|attempts|minutes?|hours?|days?|weeks?|months?|years?|seconds?|"
    r"am|pm|a\.m\.|p\.m\.|o'clock|percent|%|dollars?|euros?|pounds?|long|old)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"""(["'])(?P<w>[^"']{1,80})\1""")
_WORD = re.compile(r"[A-Za-z][\w'-]*")
_PHRASE = re.compile(r"[A-Za-z]+(?:[\s,]+[A-Za-z]+){5,23}")

# Words after "my password is ..." that describe it rather than give it.
_NOT_A_VALUE = frozenset(
    """a an the my your our their his her its this that these those it what which who how why
    when where there here not no never too very so really quite still just also already almost
    always sometimes usually probably maybe definitely about around on in at of for to from
    with without by into onto over under than then be being been is was are were wrong right
    correct incorrect expired invalid valid weak strong long short secure insecure safe unsafe
    easy hard difficult simple complicated complex same different new old changed reset locked
    blocked forgotten lost stolen stored saved written kept hidden required needed missing
    empty set saying asking protected encrypted case sensitive something anything nothing
    everything one ones mine yours due taken used working broken fine good bad great okay ok
    important private secret public personal unique generated random managed shared sent coming
    going expiring compromised leaked all any some only like longer shorter stronger weaker
    better worse easier harder simpler safer""".split()  # noqa: SIM905
)

_SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("social security number", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    (
        "API key",
        re.compile(
            r"\b(?:sk|pk|rk|ghp|gho|ghs|github_pat|xox[abpr]|AKIA|AIza|glpat)[-_A-Za-z0-9]{10,}"
            r"|\b(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[A-Za-z])[A-Za-z0-9+/_-]{32,}\b"
        ),
    ),
    (
        "account number",
        re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){3,7}(?:\s?[A-Z0-9]{1,4})?\b"),
    ),
]
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


#: What a redacted secret starts with in the stored text.
MARK = "[redacted: "


@dataclass(frozen=True, slots=True)
class Redaction:
    """``text`` with every secret replaced by ``[redacted: KIND]``; ``kinds`` in order found."""

    text: str
    kinds: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.kinds)


def redacted_kinds(text: str) -> list[str]:
    """The kinds of secret redacted from ``text``, each once, in order."""
    return list(dict.fromkeys(re.findall(re.escape(MARK) + r"([^\]]+)\]", text)))


def sentence(kinds: list[str]) -> str:
    """What to tell the user when ``kinds`` of secret were redacted."""
    return f"I did not keep your {_join(kinds)}: secrets are never stored or sent anywhere."


def redact(text: str) -> Redaction:
    """The text with its secrets redacted (see the module docstring)."""
    spans: list[tuple[int, int, str]] = []
    for kind, pattern in _SHAPES:
        spans += [(m.start(), m.end(), kind) for m in pattern.finditer(text)]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            spans.append((m.start(), m.end(), "card number"))
    for cue in _CUE.finditer(text):
        kind = next(_KINDS[i] for i in range(len(_KINDS)) if cue.group(f"k{i}"))
        value = _value_after(text, cue.end(), kind)
        if value is not None:
            spans.append((value[0], value[1], kind))
    for cue in _WEAK.finditer(text):
        before = text[: cue.start()].split()
        if before and before[-1].lower().strip(",.") in _WEAK_NOT_AFTER:
            continue
        value = _value_after(text, cue.end(), "code", weak=True)
        if value is not None:
            spans.append((value[0], value[1], "code"))
    if not spans:
        return Redaction(text)
    out, kinds, last = [], [], 0
    for start, end, kind in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < last:  # overlaps a span already redacted
            continue
        out.append(text[last:start])
        out.append(f"{MARK}{kind}]")
        kinds.append(kind)
        last = end
    out.append(text[last:])
    return Redaction("".join(out), tuple(kinds))


def is_secret(text: str) -> bool:
    """True for text that holds a secret, or the mark of one already redacted (a memory
    "my PIN is [redacted: PIN]" is no memory worth keeping)."""
    return MARK in text or redact(text).found


def _value_after(text: str, at: int, kind: str, *, weak: bool = False) -> tuple[int, int] | None:
    """The span of the value given right after a secret thing's name, if any."""
    states = _STATED.match(text, at)
    if states is None:
        # "PIN 4921", "password hunter2!": only a value that looks like one
        plain = re.match(r"\s+", text[at:])
        if plain is None or weak:
            return None
        start = at + plain.end()
        m = _value(text, start)
        return (m.start(), m.end()) if m and any(c.isdigit() for c in m.group()) else None
    start = states.end()
    m = _value(text, start)
    if m and (not weak or sum(c.isdigit() for c in m.group()) >= 3 or len(m.group()) >= 8):
        return m.start(), m.end()
    if m is None and _QUANTITY.match(text, start):
        return None  # "my PIN is 4 digits", "the code is 200 lines long"
    if weak or kind in _NUMERIC:
        return None
    quoted = _QUOTED.match(text, start)
    if quoted:
        return quoted.start(), quoted.end()
    if kind == "recovery phrase":
        phrase = _PHRASE.match(text, start)
        return (phrase.start(), phrase.end()) if phrase else None
    word = _WORD.match(text, start)
    if word is None or _describes(word.group().lower()):
        return None
    return word.start(), word.end()


def _value(text: str, start: int) -> re.Match[str] | None:
    """A number or a code-like token at ``start``, unless it is a quantity ("4 digits")."""
    if _QUANTITY.match(text, start):
        return None
    return _DIGITS.match(text, start) or _TOKEN.match(text, start)


def _describes(word: str) -> bool:
    """A word that says something about the secret ("expired", "longer", "six") instead of
    being it."""
    return (
        word in _NOT_A_VALUE
        or re.fullmatch(_NUMBER_WORDS, word) is not None
        or word.endswith(("ed", "ing"))
    )


_NUMERIC = frozenset({"PIN", "card number", "account number", "social security number"})


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
