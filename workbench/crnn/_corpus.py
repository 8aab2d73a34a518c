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


def _word(rng: np.random.Generator) -> str:
    if rng.random() < 0.3:
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


_KINDS = ("word", "phrase", "number", "date", "amount", "percent", "random")
_KIND_P = np.array([0.30, 0.22, 0.12, 0.10, 0.10, 0.06, 0.10])


def random_text(rng: np.random.Generator, max_len: int = 20, min_len: int = 1) -> str:
    """Draw one string of ``min_len``..``max_len`` characters from the corpus mixture.

    The mixture: single words (lower, Capitalized, UPPER), phrases of words, numbers with and without
    thousands separators, dates like ``110/03/09``, amounts like ``$1,000.50``, percentages, and
    random strings over the whole charset. Deterministic for a seeded ``rng``.
    """
    if max_len < 1 or min_len < 1 or min_len > max_len:
        raise ValueError(f"max_len/min_len: expected 1 <= min_len <= max_len, got {min_len}, {max_len}")
    for _ in range(50):
        kind = _KINDS[rng.choice(len(_KINDS), p=_KIND_P)]
        if kind == "word":
            text = _case(_word(rng), rng)
        elif kind == "phrase":
            words, target = [], int(rng.integers(min_len, max_len + 1))
            while len(" ".join(words)) < target:
                words.append(_case(_word(rng), rng))
            text = " ".join(words)
        elif kind == "number":
            text = _number(rng)
        elif kind == "date":
            text = _date(rng)
        elif kind == "amount":
            text = _amount(rng)
        elif kind == "percent":
            text = _percent(rng)
        else:
            text = _random_chars(rng, int(rng.integers(min_len, max_len + 1)))
        text = text[:max_len].strip()
        if len(text) >= min_len:
            return text
    return _random_chars(rng, min_len)[:max_len].ljust(min_len, "x")
