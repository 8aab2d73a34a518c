"""The FeatureLake split: the same public verbs, each handed to the module that owns its concern."""

import ast
import inspect

from workbench.lake import FeatureLake
from workbench.lake import _lake

#: The public surface before the split (issue 15, item 8), which must not shrink or change signature.
BEFORE = ["backfill", "break_lock", "check", "close", "commits", "dataset", "deltas", "get", "history", "key", "keys",
          "knowledge", "lineage", "open", "pipeline", "register_feature", "register_function", "registry",
          "run_pending", "run_pending_every", "skipped_commits", "training_frame", "vacuum", "version", "write",
          "writing"]
OWNERS = {"write": "_storage", "deltas": "_storage", "register_feature": "_registration",
          "register_function": "_registration", "run_pending": "_resolvers", "run_pending_every": "_resolvers",
          "backfill": "_resolvers", "key": "_queries", "keys": "_queries", "get": "_queries", "history": "_queries",
          "dataset": "_queries", "training_frame": "_queries", "delete": "_commands", "update": "_commands",
          "delete_feature": "_commands", "register_family": "_commands", "write_family": "_commands"}


def _methods():
    tree = ast.parse(inspect.getsource(_lake))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "FeatureLake")
    return {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}


def test_the_public_verbs_are_all_still_there():
    public = {n for n in dir(FeatureLake) if not n.startswith("_")}
    assert set(BEFORE) <= public


def test_each_verb_is_one_statement_handing_over_to_its_owner():
    methods = _methods()
    for name, owner in OWNERS.items():
        body = [s for s in methods[name].body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        text = ast.unparse(body[-1])
        assert len(body) <= 2 and owner.lstrip("_") in text, f"{name}: {text}"


def test_the_facade_stays_small():
    source = inspect.getsource(_lake)
    assert len(source.splitlines()) < 520
    assert max(m.end_lineno - m.lineno for m in _methods().values()) < 40  # open() is the longest
