"""Dictionary correction (issue 13): unknown words are replaced only when the CTC frames find a dictionary word
nearly as likely; known words, confident unknown strings, short words, numbers and punctuation stay as read."""

import argparse

import numpy as np
import pytest

from workbench.crnn import CHARSET, Dictionary
from workbench.crnn._dictionary import SYSTEM_WORDS, consistent_case, is_address, path_characters, word_spans
from workbench.crnn.calibrate import tune_dictionary
from workbench.errors import UserError

IDS = {c: k + 1 for k, c in enumerate(CHARSET)}
WORDS = ["way", "water", "went", "fill", "will", "can't", "stop", "zebra", "town"]


def frames(*columns, floor=1e-4):
    """(T, C) log-probabilities: each column is a {char: p} dict ('' = blank), the rest share ``floor``."""
    lp = np.full((len(columns), len(CHARSET) + 1), floor)
    for t, col in enumerate(columns):
        for ch, p in col.items():
            lp[t, 0 if ch == "" else IDS[ch]] = p
    lp /= lp.sum(1, keepdims=True)
    return np.log(lp)


def spelled(text, doubt=None):
    """Two frames per character then a blank; ``doubt`` maps a position to {char: p} for both its frames."""
    cols = []
    for i, ch in enumerate(text):
        col = (doubt or {}).get(i, {ch: 0.98})
        cols += [col, col, {"": 0.98}]
    return cols


def test_an_unknown_word_goes_to_the_dictionary_word_the_frames_nearly_favour():
    d = Dictionary(WORDS, margin=4.0)
    lp = frames(*spelled("uay water", doubt={0: {"u": 0.6, "w": 0.38}}))
    assert "".join(c for c, _, _ in path_characters(lp, CHARSET)) == "uay water"
    assert d.correct(lp, CHARSET) == "way water"


def test_case_follows_the_frames():
    d = Dictionary(WORDS, margin=4.0)
    lp = frames(*spelled("Uay", doubt={0: {"U": 0.6, "W": 0.38}}))
    assert d.correct(lp, CHARSET) == "Way"
    lp = frames(*spelled("TOWM", doubt={3: {"M": 0.6, "N": 0.38}}))
    assert d.correct(lp, CHARSET) == "TOWN"


def test_a_confident_unknown_string_is_kept():
    """A code or a name the network reads clearly is not forced onto a dictionary word one edit away."""
    d = Dictionary(WORDS, margin=8.0)
    assert d.correct(frames(*spelled("zebrq")), CHARSET) == "zebrq"


def test_known_words_short_words_numbers_and_punctuation_stay():
    d = Dictionary(WORDS, margin=50.0, min_length=4)  # a huge margin would correct anything it may touch
    lp = frames(*spelled("fill wiy 42, $9.5!", doubt={5: {"w": 0.5, "x": 0.49}}))
    assert d.correct(lp, CHARSET) == "fill wiy 42, $9.5!"  # "fill" known; "wiy" shorter than min_length


def test_a_larger_margin_corrects_more():
    lp = frames(*spelled("uater", doubt={0: {"u": 0.9, "w": 0.09}}))
    assert Dictionary(WORDS, margin=0.5).correct(lp, CHARSET) == "uater"
    assert Dictionary(WORDS, margin=8.0).correct(lp, CHARSET) == "water"


def test_a_missed_space_between_two_words_is_put_back_when_the_frames_allow_it():
    d = Dictionary(WORDS + ["tell", "very"], margin=4.0)
    assert d.splits("TELLVERY") == ["TELL VERY"] and d.splits("wayto") == []  # parts of 3+ letters only
    # The blank between L and V also carries some space: the frames find "TELL VERY" nearly as likely.
    cols = spelled("TELLVERY")
    cols[3 * 4 - 1] = {"": 0.7, " ": 0.28}
    assert d.correct(frames(*cols), CHARSET) == "TELL VERY"
    # No trace of a space there: the reading stands (it may be one word the list lacks).
    assert d.correct(frames(*spelled("TELLVERY")), CHARSET) == "TELLVERY"


def test_a_letter_inside_a_number_becomes_its_digit_when_the_frames_allow_it():
    from workbench.crnn._dictionary import number_spans

    text = "I4,822 $4.0r 9:s6 12th 5pm 3D FU-20I7 #89Iy9"
    assert [text[i:j] for i, j in number_spans(text)] == ["I4,822", "$4.0r", "9:s6"]
    d = Dictionary(WORDS, margin=4.0)
    lp = frames(*spelled("I4,822", doubt={0: {"I": 0.6, "1": 0.38}}))
    assert d.correct(lp, CHARSET) == "14,822"
    assert d.correct(frames(*spelled("I4,822")), CHARSET) == "I4,822"  # read clearly: left as read
    assert d.correct(frames(*spelled("12th 5pm")), CHARSET) == "12th 5pm"


def test_a_digit_glued_to_a_word_is_a_letter_when_the_frames_allow_it():
    d = Dictionary(WORDS + ["avenue", "idea"], margin=4.0)
    lp = frames(*spelled("4venue", doubt={0: {"4": 0.6, "A": 0.38}}))
    assert d.correct(lp, CHARSET) == "Avenue"
    lp = frames(*spelled("1DEA", doubt={0: {"1": 0.6, "I": 0.38}}))
    assert d.correct(lp, CHARSET) == "IDEA"
    assert d.correct(frames(*spelled("4venue")), CHARSET) == "4venue"
    assert d.correct(frames(*spelled("Win10 3rd")), CHARSET) == "Win10 3rd"  # letters too few, digits too many


def test_capital_i_and_lower_case_l_follow_the_words_case():
    assert [consistent_case(w) for w in ("lD", "HeIlo", "fiIl", "Isn't", "ALL", "lsn'T", "Il", "ISN'T")] == \
        ["ID", "Hello", "fill", "Isn't", "ALL", "lsn'T", "Il", "ISN'T"]
    d = Dictionary(WORDS, margin=4.0)
    # "lD" is shorter than min_length (no dictionary look-up), but the case rule still applies.
    lp = frames(*spelled("lD card", doubt={0: {"l": 0.55, "I": 0.44}}))
    assert d.correct(lp, CHARSET) == "ID card"
    lp = frames(*spelled("lD", doubt={0: {"l": 0.999, "I": 0.0001}}))
    assert d.correct(lp, CHARSET) == "lD"  # the frames rule it out: kept


def test_addresses_are_left_as_read():
    """Regression: a dictionary pass turned `two.where@uni.edu` into `...@un.edu` (`uni` is not a word)."""
    d = Dictionary(WORDS + ["un"], margin=50.0)  # a margin that would take any candidate
    for text in ("two.where@uni.edu", "see uni.edu now", "http://uni/x"):
        assert d.correct(frames(*spelled(text)), CHARSET) == text
    assert d.correct(frames(*spelled("uni ok")), CHARSET) == "un ok"  # the same word outside an address
    assert is_address("a b@c d", 2, 3) and not is_address("a bc. d", 2, 4)


def test_word_spans_keep_apostrophes_inside_words():
    chars = [(c, i, i + 1) for i, c in enumerate("'can't' stop-it")]
    words = ["".join(c for c, _, _ in chars[i:j]) for i, j in word_spans(chars)]
    assert words == ["can't", "stop", "it"]


def test_contractions_are_corrected_as_one_word():
    d = Dictionary(WORDS, margin=4.0)
    lp = frames(*spelled("caw't", doubt={2: {"w": 0.6, "n": 0.38}}))
    assert d.correct(lp, CHARSET) == "can't"


def test_bad_arguments_name_the_problem(tmp_path):
    with pytest.raises(TypeError, match="one str"):
        Dictionary("way")
    with pytest.raises(ValueError, match="no words"):
        Dictionary(["", "  "])
    with pytest.raises(ValueError, match="margin"):
        Dictionary(WORDS, margin=-1)
    with pytest.raises(UserError, match="--dictionary: cannot read") as info:
        Dictionary.system(tmp_path / "nope.txt")
    assert "\n" not in str(info.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(UserError, match="holds no words"):
        Dictionary.system(empty)


def test_tuning_picks_the_margin_that_reads_most_lines():
    # Three lines need a margin of at least ~1.7 nats; one confident code line breaks above ~13.
    doubtful = frames(*spelled("uater", doubt={0: {"u": 0.7, "w": 0.29}}))
    code = frames(*spelled("zebrq"))
    lps, texts = [doubtful] * 3 + [code], ["water"] * 3 + ["zebrq"]
    d = Dictionary(WORDS, margin=7.0)
    tuned = tune_dictionary(d, CHARSET, lps, texts, grid={"min_length": (3,), "margin": (0.0, 1.0, 2.0, 4.0, 20.0)})
    assert (d.margin, d.min_length) == (7.0, 3)  # tuning leaves the dictionary's own settings alone
    assert (tuned["margin"], tuned["min_length"]) == (2.0, 3)  # the smallest margin with all four right
    assert [p["accuracy"] for p in tuned["grid"]] == [0.25, 0.25, 1.0, 1.0, 0.75]


def _flags(**kw):
    base = dict(no_dictionary=False, dictionary=None, lexicon=None, beam_width=None, threads=1)
    return argparse.Namespace(**{**base, **kw})


class _Rec:
    dictionary_settings = {"margin": 6.0, "min_length": 4}

    def system_dictionary(self, path=None):
        from workbench.crnn.recognizer import Recognizer

        return Recognizer.system_dictionary(self, path)


def test_cli_dictionary_flags(tmp_path):
    from workbench.crnn.cli import _dictionary

    words = tmp_path / "words.txt"
    words.write_text("way\nwater\n")
    d = _dictionary(_flags(dictionary=str(words)), _Rec())
    assert isinstance(d, Dictionary) and d.vocab == {"way", "water"} and (d.margin, d.min_length) == (6.0, 4)
    assert _dictionary(_flags(no_dictionary=True), _Rec()) is None
    assert _dictionary(_flags(lexicon="x.txt"), _Rec()) is None  # a closed vocabulary replaces it
    with pytest.raises(UserError, match="cannot be combined"):
        _dictionary(_flags(dictionary=str(words), beam_width=5), _Rec())
    default = _dictionary(_flags(), _Rec())
    assert (default is not None) == SYSTEM_WORDS.exists()


def test_recognizer_refuses_two_decodings_at_once():
    from workbench.crnn import CONFIGS, CRNN, Recognizer

    rec = Recognizer(CRNN(CONFIGS["tiny"]))
    image = np.full((32, 64), 255, np.uint8)
    with pytest.raises(ValueError, match="pick one decoding"):
        rec.read_lines([image], lexicon=["way"], dictionary=Dictionary(WORDS))
    with pytest.raises(TypeError, match="Dictionary or None"):
        rec.read_lines([image], dictionary=["way"])
    (line,) = rec.read_lines([image], dictionary=Dictionary(WORDS))
    assert set(line.text) <= set(CHARSET) and line.box == (0, 0, 64, 32)


def test_views_vote_for_the_reading_most_views_agree_on(monkeypatch):
    from workbench.crnn import CONFIGS, CRNN, Recognizer
    from workbench.crnn._preprocess import VIEW_STRETCHES, views

    line = np.full((32, 100), 250, np.uint8)
    got = views(line)
    assert len(got) == 5 and all(v.shape[0] == 32 for v in got) and got[0] is line
    assert [v.shape[1] for v in got[1:4]] == [round(100 * f) for f in VIEW_STRETCHES]
    rec = Recognizer(CRNN(CONFIGS["tiny"]))
    assert rec.charset == CHARSET
    readings = ["wax", "way", "way", "wax", "way"] * 2  # two images, five views each
    doubt = {"wax": {2: {"x": 0.7, "y": 0.25}}, "way": {2: {"y": 0.5, "x": 0.45}}}
    lp = {r: frames(*spelled(r, doubt=doubt[r])) for r in doubt}
    assert rec.raw_confidence(lp["wax"]) > rec.raw_confidence(lp["way"]) + 0.1
    monkeypatch.setattr(rec, "_lines_log_probs", lambda lines, batch_size=None: [lp[r] for r in readings[: len(lines)]])
    image = np.full((32, 64), 255, np.uint8)
    lines = rec.read_lines([image, image], views=True)
    assert [x.text for x in lines] == ["way", "way"]  # three views against two, though "wax" is surer
    assert lines[0].confidence == pytest.approx(rec.raw_confidence(lp["way"]))  # no calibration map: the raw score
    monkeypatch.setattr(rec, "_lines_log_probs", lambda lines, batch_size=None: [lp["wax"]] * len(lines))
    assert rec.recognize([image]) == ["wax"]  # one view: no vote
