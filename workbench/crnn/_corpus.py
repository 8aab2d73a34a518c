"""Seeded text generators for synthetic text lines: words, numbers, dates, amounts, percentages."""

from __future__ import annotations

import numpy as np

from workbench.crnn._charset import CHARSET

# A small general-English vocabulary (common words of several lengths). It is also the default
# lexicon for lexicon-based decoding; random letter strings are mixed in so the model cannot lean on it.
WORDS = tuple(
    """
    the of and to in is was that for on are with as his they be at one have this from by hot word but
    what some we can out other were all there when up use your how said an each she which do their time
    if will way about many then them write would like so these her long make thing see him two has look
    more day could go come did number sound no most people my over know water than call first who may down
    side been now find any new work part take get place made live where after back little only round man
    year came show every good me give our under name very through just form sentence great think say help
    low line differ turn cause much mean before move right boy old too same tell does set three want air
    well also play small end put home read hand port large spell add even land here must big high such
    follow act why ask men change went light kind off need house picture try us again animal point mother
    world near build self earth father head stand own page should country found answer school grow study
    still learn plant cover food sun four between state keep eye never last let thought city tree cross
    farm hard start might story saw far sea draw left late run while press close night real life few north
    open seem together next white children begin got walk example ease paper group always music those both
    mark often letter until mile river car feet care second book carry took science eat room friend began
    idea fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl
    usual young ready above ever red list though feel talk bird soon body dog family direct pose leave song
    measure door product black short numeral class wind question happen complete ship area half rock order
    fire south problem piece told knew pass since top whole king space heard best hour better true during
    hundred five remember step early hold west ground interest reach fast verb sing listen six table travel
    less morning ten simple several vowel toward war lay against pattern slow center love person money
    serve appear road map rain rule govern pull cold notice voice unit power town fine certain fly fall
    lead cry dark machine note wait plan figure star box noun field rest correct able pound done beauty
    drive stood contain front teach week final gave green quick develop ocean warm free minute strong
    special mind behind clear tail produce fact street inch multiply nothing course stay wheel full force
    blue object decide surface deep moon island foot system busy test record boat common gold possible
    plane stead dry wonder laugh thousand ago ran check game shape equate miss brought heat snow tire bring
    yes distant fill east paint language among invoice receipt total amount balance account payment date
    account customer order quantity price tax discount shipping address phone email street avenue january
    february march april june july august september october november december monday tuesday wednesday
    thursday friday saturday sunday recognition network neural convolution sequence label train model
    """.split()
)

_CONTRACTIONS = ("don't", "it's", "can't", "won't", "isn't", "we're", "o'clock", "you'll", "they've")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _word(rng: np.random.Generator, letters_p: float = 0.3) -> str:
    if rng.random() < letters_p:
        # Random letter strings keep the model from memorizing the vocabulary's spelling.
        return "".join(rng.choice(list(_LETTERS), size=int(rng.integers(1, 11))))
    if rng.random() < 0.05:
        return str(rng.choice(_CONTRACTIONS))
    return str(rng.choice(WORDS))


def _case(word: str, rng: np.random.Generator) -> str:
    u = rng.random()
    if u < 0.5:
        return word
    if u < 0.8:
        return word[:1].upper() + word[1:]
    return word.upper()


def _number(rng: np.random.Generator) -> str:
    n = int(10 ** rng.uniform(0, 7))
    if rng.random() < 0.4:
        return f"{n:,}"
    if rng.random() < 0.3:
        return f"{n / 100:.2f}"
    return str(n)


def _date(rng: np.random.Generator) -> str:
    y, m, d = int(rng.integers(0, 130)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    style = int(rng.integers(0, 5))
    if style == 0:
        return f"{y:03d}/{m:02d}/{d:02d}"  # the notes' style, e.g. 110/03/09
    if style == 1:
        return f"{d:02d}/{m:02d}/{1900 + y}"
    if style == 2:
        return f"{1900 + y}-{m:02d}-{d:02d}"
    if style == 3:
        return f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}"
    return f"{d}.{m}.{y % 100:02d}"


def _amount(rng: np.random.Generator) -> str:
    value = 10 ** rng.uniform(-1, 6.5)
    return f"${value:,.2f}" if rng.random() < 0.8 else f"${int(value):,}"


def _percent(rng: np.random.Generator) -> str:
    value = rng.uniform(0, 100)
    return f"{value:.{int(rng.integers(0, 3))}f}%"


def _random_chars(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list(CHARSET), size=n)).strip() or "x"


_LABELS = ("Total", "Subtotal", "Tax", "Date", "Due", "Invoice No.", "Amount", "Balance", "Ref", "Qty",
           "Price", "Name", "Phone", "Order #", "Account", "Rate", "Paid", "Page", "Item", "Discount")
_DOMAINS = ("example.com", "mail.org", "uni.edu", "shop.net")


def _id(rng: np.random.Generator, letters_p: float = 0.3) -> str:
    """Invoice numbers, reference codes, phone numbers, e-mail addresses, times."""
    style = int(rng.integers(0, 5))
    if style == 0:
        prefix = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), size=int(rng.integers(2, 4))))
        return f"{prefix}-{int(rng.integers(1990, 2040))}-{int(rng.integers(0, 10**4)):04d}"
    if style == 1:
        return f"({int(rng.integers(100, 1000))}) {int(rng.integers(100, 1000))}-{int(rng.integers(0, 10**4)):04d}"
    if style == 2:
        return f"{_word(rng, letters_p)}.{_word(rng, letters_p)}@{rng.choice(_DOMAINS)}"
    if style == 3:
        return f"#{int(rng.integers(1, 10**6))}"
    return f"{int(rng.integers(1, 13))}:{int(rng.integers(0, 60)):02d} {rng.choice(['AM', 'PM', 'am', 'pm'])}"


def _field(rng: np.random.Generator) -> str:
    """A form or receipt line: ``Label: value``."""
    value = (_amount, _date, _number, _percent, _id)[int(rng.integers(0, 5))](rng)
    sep = str(rng.choice([": ", " ", " = ", ": "]))
    return f"{rng.choice(_LABELS)}{sep}{value}"


def _sentence(rng: np.random.Generator, target: int, letters_p: float = 0.3) -> str:
    """Running text: Capitalized words, commas, a closing mark, now and then quotes, parentheses, numbers."""
    words = []
    while len(" ".join(words)) < target:
        u = rng.random()
        if u < 0.08:
            w = _number(rng)
        elif u < 0.12:
            w = f"({_word(rng, letters_p)})"
        elif u < 0.15:
            w = f'"{_word(rng, letters_p)}"'
        elif u < 0.17:
            w = str(rng.choice(["&", "-", "+", "="]))
        else:
            w = _case(_word(rng, letters_p), rng) if rng.random() < 0.2 else _word(rng, letters_p)
            if rng.random() < 0.1:
                w += str(rng.choice([",", ",", ";", ":"]))
        words.append(w)
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    return text + str(rng.choice([".", ".", ".", "!", "?", ""]))


_KINDS = ("word", "phrase", "sentence", "number", "date", "amount", "percent", "field", "id", "random", "mixed")
_KIND_P = np.array([0.10, 0.12, 0.22, 0.06, 0.06, 0.06, 0.04, 0.10, 0.05, 0.06, 0.13])
_KIND_P_REALISTIC = np.where(np.array(_KINDS) == "random", 0.0, _KIND_P) / (1 - _KIND_P[_KINDS.index("random")])


def random_text(rng: np.random.Generator, max_len: int = 20, min_len: int = 1, realistic: bool = False) -> str:
    """Draw one string of ``min_len``..``max_len`` characters from the corpus mixture.

    The mixture: single words (lower, Capitalized, UPPER), phrases, sentences with punctuation, quotes
    and parentheses, numbers with and without thousands separators, ROC dates like ``110/03/09`` and ISO
    dates like ``2026-11-23``, amounts like ``$1,000.50``, percentages, form fields (``Total: $12.50``),
    codes, phone numbers, e-mail addresses, times, and random strings over the whole charset (so the
    network cannot lean on spelling). Deterministic for a seeded ``rng``.

    ``realistic=True`` (evaluation sets) drops the random strings and random letter words: text as
    documents print it, where a reader with a language model (Tesseract) is not at a disadvantage.
    """
    letters_p = 0.0 if realistic else 0.3
    p_kind = _KIND_P_REALISTIC if realistic else _KIND_P
    if max_len < 1 or min_len < 1 or min_len > max_len:
        raise ValueError(f"max_len/min_len: expected 1 <= min_len <= max_len, got {min_len}, {max_len}")
    for _ in range(50):
        kind = _KINDS[rng.choice(len(_KINDS), p=p_kind)]
        target = int(rng.integers(min_len, max_len + 1))
        if kind == "word":
            text = _case(_word(rng, letters_p), rng)
        elif kind == "phrase":
            words = []
            while len(" ".join(words)) < target:
                words.append(_case(_word(rng, letters_p), rng))
            text = " ".join(words)
        elif kind == "sentence":
            text = _sentence(rng, target, letters_p)
        elif kind == "number":
            text = _number(rng)
        elif kind == "date":
            text = _date(rng)
        elif kind == "amount":
            text = _amount(rng)
        elif kind == "percent":
            text = _percent(rng)
        elif kind == "field":
            text = _field(rng)
        elif kind == "id":
            text = _id(rng, letters_p)
        elif kind == "mixed":
            # A line of a document mixes kinds: "Invoice 2026-11-23 Total: $1,234.50".
            parts = []
            while len(" ".join(parts)) < target:
                parts.append((_field, _date, _amount, _id, _number)[int(rng.integers(0, 5))](rng)
                             if rng.random() < 0.5 else _case(_word(rng, letters_p), rng))
            text = " ".join(parts)
        else:
            text = _random_chars(rng, target)
        if len(text) > max_len:
            # Cut at a word boundary when there is one, as a line break would.
            cut = text[:max_len + 1].rfind(" ")
            text = text[:cut] if cut >= min_len else text[:max_len]
        text = text.strip()
        if len(text) >= min_len and set(text) <= _ALPHABET:
            return text
    return _random_chars(rng, min_len)[:max_len].ljust(min_len, "x")


_ALPHABET = frozenset(CHARSET)
