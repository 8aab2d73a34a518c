"""ICD-10-CM suggestions: each rule the ranker promises, and the tutorial's example query."""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest.importorskip("simple_icd_10_cm")

from workbench.clinical.coding import analyze, load_index, suggest_codes  # noqa: E402
from workbench.clinical.coding import ranker  # noqa: E402
from workbench.clinical.coding._index import doc_terms  # noqa: E402
from workbench.clinical.coding.calibration import fit_calibration, load_calibration, reliability_curve  # noqa: E402
from workbench.clinical.coding.evaluation import perturb, rapidfuzz_baseline  # noqa: E402
from workbench.errors import UserError  # noqa: E402

CHRONIC_OM = ("H65.2", "H65.3", "H65.4", "H66.1", "H66.2", "H66.3", "H66.9")  # chronic OM families


@pytest.fixture(scope="module")
def index():
    return load_index()


def test_the_code_set_ships_offline(index):
    assert index.n_leaves > 70_000 and len(index.nodes) > 95_000
    assert "H66.92" in {index.leaf_code(i) for i in range(index.n_leaves)}


def test_tutorial_example_ranks_left_chronic_otitis_media_first(index):
    result = suggest_codes("left chronic otitis media status post", index=index)
    assert result.main.code == "H66.92"  # H66.9 holds the inclusion term "Chronic otitis media NOS"
    assert result.main.matched_text == "Chronic otitis media NOS"
    top5 = [result.main.code] + [a.code for a in result.alternatives[:4]]
    assert all(code.startswith(CHRONIC_OM) for code in top5)
    lateral = [c for c in top5 if index.leaf_side[_leaf(index, c)] in "LRB" and index.leaf_side[_leaf(index, c)]]
    assert lateral and all(index.leaf_side[_leaf(index, c)] == "L" for c in lateral)


def _leaf(index, code):
    return [index.leaf_code(i) for i in range(index.n_leaves)].index(code)


@pytest.mark.parametrize("text, side, code", [
    ("right chronic otitis media", "R", "H66.91"),
    ("bilateral chronic otitis media", "B", "H66.93"),
    ("chronic otitis media", None, "H66.90"),  # no side named: the unspecified-ear child
    ("COM AS", "L", "H66.92"),  # abbreviation and the Latin ear side
])  # fmt: skip
def test_laterality_steers_to_the_child_for_that_side(index, text, side, code):
    assert analyze(text)[0].laterality == side
    assert suggest_codes(text, index=index).main.code == code


def test_side_penalty_is_what_moves_the_child(index, monkeypatch):
    tokens = analyze("right chronic otitis media")[0].asserted
    with_rule = {c.code: c.score for c in ranker.rank_terms(index, tokens, "R", k=4)[0]}
    assert with_rule["H66.91"] > 1.05 * max(with_rule.get("H66.92", 0), with_rule.get("H66.90", 0))
    # Without the penalties the sides tie: the rule, not the words, picks the child.
    monkeypatch.setattr(ranker, "SIDE_OTHER", 1.0)
    monkeypatch.setattr(ranker, "SIDE_UNSPECIFIED", 1.0)
    without = {c.code: c.score for c in ranker.rank_terms(index, tokens, "R", k=4)[0]}
    assert abs(without["H66.91"] - without["H66.92"]) < 0.01 * without["H66.91"]


def test_negated_findings_are_not_coded(index):
    result = suggest_codes("chest pain, no fever", index=index)
    assert result.main.code.startswith("R07")
    assert [n["text"] for n in result.negated] == ["fever"]
    assert not any(s.code.startswith("R50") for s in (result.main, *result.secondary, *result.alternatives))
    # The same words without the trigger do reach fever codes.
    assert any(c.code.startswith("R50") for c in ranker.rank_text(index, "chest pain fever")[0].candidates)


def test_status_post_goes_to_status_codes_not_current_disease(index):
    result = suggest_codes("s/p CABG", index=index)
    assert result.main is None
    assert [(s.code, s.role) for s in result.secondary] == [("Z95.1", "status")]
    assert analyze("left chronic otitis media status post")[0].status_post == ()  # a dangling s/p codes nothing


def test_hierarchy_puts_category_texts_on_billable_leaves(index):
    # "Chronic otitis media NOS" sits on H66.9, which is not billable; the answer must be a leaf under it.
    result = suggest_codes("chronic otitis media", index=index)
    assert result.main.code.startswith("H66.9") and len(result.main.code.replace(".", "")) == 5
    for s in (result.main, *result.alternatives):
        assert _leaf(index, s.code) >= 0


def test_nonessential_modifiers_do_not_count_against_coverage():
    required, optional, _ = doc_terms("hypertension (arterial) (benign) (essential)")
    assert required == ["hypertension"] and set(optional) == {"arterial", "benign", "essential"}
    assert suggest_codes("HTN").main.code == "I10"


def test_spelling_is_corrected_against_the_vocabulary(index):
    result = suggest_codes("chronic otitis meida left", index=index)
    assert result.corrected == {"meida": "media"} and result.main.code == "H66.92"


def test_several_clauses_give_main_and_secondary_diagnoses(index):
    result = suggest_codes("Chronic otitis media, left. HTN. Type 2 diabetes without complications.", index=index)
    assert result.main.code == "H66.92" and result.main.role == "main"
    assert [s.code for s in result.secondary] == ["I10", "E11.9"]
    note = "Chronic otitis media, left. HTN. Type 2 diabetes without complications."
    for span in result.main.evidence:
        assert note[span["start"] : span["end"]] == span["text"]


def test_bad_input_is_one_line_user_error(index):
    for bad, words in [("", "empty"), ("x" * 6000, "at most"), (3, "string")]:
        with pytest.raises(UserError, match=words):
            suggest_codes(bad, index=index)
    with pytest.raises(UserError, match="k"):
        suggest_codes("otitis", k=0, index=index)


def test_calibration_fits_and_is_monotone():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1.5, size=(2000, 2))
    truth = 1 / (1 + np.exp(-(3 * x[:, 0] + 2 * x[:, 1] - 3)))
    y = rng.uniform(size=2000) < truth
    cal = fit_calibration(x, y)
    assert abs(cal.w_rel - 3) < 0.6 and abs(cal.w_margin - 2) < 0.6 and abs(cal.bias + 3) < 0.6
    p = np.array([cal.probability(*row) for row in x])
    assert reliability_curve(p, y)["ece"] < 0.05
    assert reliability_curve(np.clip(p + 0.3, 0, 1), y)["ece"] > 0.2  # a shifted curve is caught
    shipped = load_calibration()
    assert shipped.w_rel > 0 and shipped.w_margin > 0  # higher score, wider margin: more likely right


def test_perturbations_change_what_they_say():
    rng = random.Random(0)
    assert perturb("Chronic otitis media NOS", "abbreviation", rng) == "COM NOS"
    shuffled = perturb("Chronic otitis media NOS", "word_order", rng)
    assert sorted(shuffled.split()) == sorted("Chronic otitis media NOS".split()) and shuffled != "Chronic otitis media NOS"
    typo = perturb("Chronic otitis media", "typo", rng)
    assert typo != "Chronic otitis media" and len(typo.split()) == 3
    assert perturb("Asthma", "word_order", rng) is None


def test_baseline_finds_a_verbatim_description(index):
    assert rapidfuzz_baseline(index, ["Chronic serous otitis media, left ear"], k=1) == [["H65.22"]]
    # token_set_ratio scores a query that is a subset of a longer description 100 as well: ties.
    assert "H66.92" in rapidfuzz_baseline(index, ["Otitis media, unspecified, left ear"], k=5)[0]


def test_evaluation_holds_the_terms_out_of_the_index():
    from workbench.clinical.coding.evaluation import evaluate

    result = evaluate(6, seed=1, baseline=False, perturbations=("verbatim",))
    held = {(t.code, t.term) for t in result["terms"]}
    index = result["index"]
    assert held == set(index.held_out) and not held & set(zip((index.nodes[n] for n in index.doc_node), index.doc_text))
    assert {r["perturbation"] for r in result["rows"]} == {"verbatim"} and result["rows"][0]["queries"] == 6


def test_without_is_the_default_child(index):
    # "Type 2 diabetes mellitus without complications" (E11.9) is what a bare "type 2 diabetes" codes to.
    assert suggest_codes("type 2 diabetes", index=index).main.code == "E11.9"
    _, optional, _ = doc_terms("Type 2 diabetes mellitus without complications")
    assert "complication" in optional


def test_contradicting_words_are_damped(index, monkeypatch):
    tokens = analyze("pediatric feeding disorder chronic")[0].asserted
    scores = {c.code: c.score for c in ranker.rank_terms(index, tokens, None, k=5)[0]}
    assert scores["R63.32"] > scores["R63.31"]  # chronic, not acute
    monkeypatch.setattr(ranker, "CONTRADICTION_DAMPING", 1.0)
    undamped = {c.code: c.score for c in ranker.rank_terms(index, tokens, None, k=5)[0]}
    assert undamped["R63.31"] > scores["R63.31"] * 1.2


def test_the_cache_is_rebuilt_when_unreadable_and_stale_files_go(tmp_path, monkeypatch):
    from workbench.clinical.coding import _index

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(_index, "_MEMO", {})
    built = []
    monkeypatch.setattr(_index, "build_index", lambda: built.append(1) or _index.CodeIndex.__new__(_index.CodeIndex))
    from importlib.metadata import version

    path = _index._cache_path(version("simple-icd-10-cm"))
    path.write_bytes(b"not a pickle")
    (tmp_path / "icd10cm-index-1.5.0-v1-0123456789ab.pkl").write_bytes(b"old format")
    other_checkout = tmp_path / f"icd10cm-index-1.5.0-v{_index.FORMAT_VERSION}-ffffffffffff.pkl"
    other_checkout.write_bytes(b"same format, other source")
    assert isinstance(_index.load_index(), _index.CodeIndex) and built == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, other_checkout.name])
