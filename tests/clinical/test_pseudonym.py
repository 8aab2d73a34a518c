import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import workbench.clinical.pseudonym as pseudonym_module
from workbench.clinical import load_key, pseudonymize, session_key

KEY = b"0123456789abcdef0123456789abcdef"
UUID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_known_vector():
    # From `openssl dgst -sha256 -hmac KEY`, first 32 hex cut 8-4-4-4-12; any change breaks the SQL twin in the FHIR service.
    assert pseudonymize("A123456789", KEY) == "a402125a-c37e-3957-5cdb-0cba9b4756d2"


@given(st.text(min_size=1, max_size=40))
def test_recipe_is_hmac_sha256_first_32_hex(identifier):
    h = hmac.new(KEY, identifier.encode("utf-8"), hashlib.sha256).hexdigest()
    p = pseudonymize(identifier, KEY)
    assert UUID_LIKE.fullmatch(p)
    assert p.replace("-", "") == h[:32]


def test_key_changes_pseudonym_and_plain_hash_is_not_it():
    other = b"f" * 32
    assert pseudonymize("A123456789", KEY) != pseudonymize("A123456789", other)
    plain = hashlib.sha256(b"A123456789").hexdigest()[:32]
    assert pseudonymize("A123456789", KEY).replace("-", "") != plain


@pytest.mark.parametrize(
    ("identifier", "key", "error", "match"),
    [
        ("", KEY, ValueError, "identifier"),
        (None, KEY, ValueError, "identifier"),
        ("A123456789", "text key of enough length 0123456789", TypeError, "bytes"),
        ("A123456789", b"short", ValueError, "at least 32"),
    ],
)
def test_bad_arguments(identifier, key, error, match):
    with pytest.raises(error, match=match):
        pseudonymize(identifier, key)


@pytest.fixture
def no_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WORKBENCH_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("WORKBENCH_PSEUDONYM_KEY_FILE", raising=False)
    monkeypatch.setattr(pseudonym_module, "DEFAULT_KEY_FILE", tmp_path / "secrets" / "pseudonym.key")
    return tmp_path


def test_missing_key_says_how_to_make_one(no_key):
    with pytest.raises(RuntimeError, match="secrets/pseudonym.key.*WORKBENCH_PSEUDONYM_KEY") as info:
        load_key()
    assert "\n" not in str(info.value) and "init-secrets" in str(info.value)  # one line that names the fix


def test_key_from_environment_text(no_key, monkeypatch):
    monkeypatch.setenv("WORKBENCH_PSEUDONYM_KEY", "k" * 40)
    assert load_key() == b"k" * 40


def test_short_environment_key_is_refused(no_key, monkeypatch):
    monkeypatch.setenv("WORKBENCH_PSEUDONYM_KEY", "short")
    with pytest.raises(ValueError, match="at least 32"):
        load_key()


def test_key_file_from_environment_strips_newline(no_key, monkeypatch):
    path = no_key / "k.key"
    path.write_bytes(b"z" * 33 + b"\n")
    monkeypatch.setenv("WORKBENCH_PSEUDONYM_KEY_FILE", str(path))
    assert load_key() == b"z" * 33
    monkeypatch.setenv("WORKBENCH_PSEUDONYM_KEY_FILE", str(no_key / "missing.key"))
    with pytest.raises(FileNotFoundError, match="WORKBENCH_PSEUDONYM_KEY_FILE"):
        load_key()


def test_default_key_file(no_key):
    pseudonym_module.DEFAULT_KEY_FILE.parent.mkdir()
    pseudonym_module.DEFAULT_KEY_FILE.write_text("y" * 64 + "\n")
    assert load_key() == b"y" * 64


def test_environment_wins_over_file(no_key, monkeypatch):
    pseudonym_module.DEFAULT_KEY_FILE.parent.mkdir()
    pseudonym_module.DEFAULT_KEY_FILE.write_text("y" * 64)
    monkeypatch.setenv("WORKBENCH_PSEUDONYM_KEY", "x" * 32)
    assert load_key() == b"x" * 32


def test_session_keys_are_random_and_long_enough():
    a, b = session_key(), session_key()
    assert a != b and len(a) >= 32
    pseudonymize("A123456789", a)


def test_secret_key_path_is_git_ignored():
    root = pseudonym_module.REPO_ROOT
    ignore = (root / ".gitignore").read_text().split()
    assert "secrets/" in ignore or "*.key" in ignore
