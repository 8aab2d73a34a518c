"""Delete and update commands and feature families: changes that flow through the delta log like writes.

* ``delete(feature, keys, start, end)`` clears stored values. Each cleared cell is a delta, so the next
  ``run_pending`` recomputes every function reading the feature there (their outputs clear in turn where the
  inputs are now gone): a deletion reaches everything downstream, exactly as a write does.
* ``update(frame)`` is a write that may only change values already stored (a correction); a row that would
  add a value is refused, so a typo in a key cannot quietly create a new one.
* ``delete_feature(name)`` clears every value of a feature in every window (deltas again), drops its
  arrays from the new window versions and removes it from the registry, in one commit. A feature that a
  function reads or writes, or that a family holds, is refused with the names to remove first.
* A *family* (``/<domain>/family/<entity>/<name>``) is a named group of features of one entity that are
  written and read together -- ``call_experience`` = duration, drop, noise. ``write_family`` refuses a
  frame lacking a member (one commit writes all of them, the lake's atomic batch); ``training_frame``,
  ``history`` and ``get_family`` take the family's name for its members. Families are stored in every
  commit beside the registry, so they are versioned with it.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from workbench.errors import UserError
from workbench.lake._registry import Registry
from workbench.lake._validate import instant_ns, prepare_frame
from workbench.lake._window import valid_mask
from workbench.lake.media import prepare_media

_SEGMENT = r"[a-z][a-z0-9_]*"
FAMILY_NAME = re.compile(rf"^/(?P<domain>{_SEGMENT})/family/(?P<entity>{_SEGMENT})/(?P<name>{_SEGMENT})$")


def check_family_name(name) -> re.Match:
    if not isinstance(name, str) or not (m := FAMILY_NAME.match(name)):
        raise UserError(f"family name {name!r} does not follow /<domain>/family/<entity>/<name> (lower-case "
                        f"segments, e.g. /telecom/family/customer/call_experience)")
    return m


def families_of(head: dict) -> dict[str, dict]:
    return dict(head.get("families") or {})


def expand(head: dict, names) -> list[str]:
    """Feature names with every family name replaced by its members (in the family's order)."""
    fams = families_of(head)
    out = []
    for n in ([names] if isinstance(names, str) else list(names)):
        if isinstance(n, str) and FAMILY_NAME.match(n):
            if n not in fams:
                raise UserError(f"unknown family {n!r}; registered families: {sorted(fams)}")
            out.extend(fams[n]["features"])
        else:
            out.append(n)
    return list(dict.fromkeys(out))


# ---- families --------------------------------------------------------------------------------------------
def register_family(lake, name: str, features, description: str = "") -> dict:
    m = check_family_name(name)
    features = [features] if isinstance(features, str) else list(features)
    if len(features) < 2 or len(set(features)) != len(features):
        raise UserError(f"family {name!r} needs two or more distinct features, got {features}")
    with lake.writing():
        head = lake._head()
        reg = lake._registry_of(head)
        for f in features:
            spec = reg.features.get(f)
            if spec is None:
                raise UserError(f"family {name!r}: feature {f!r} is not registered; register it first")
            if spec.entity != m["entity"]:
                raise UserError(f"family {name!r} groups features of entity {m['entity']!r}, but {f!r} describes "
                                f"{spec.entity!r}; a family's features share one key")
        fams = families_of(head)
        entry = {"features": features, "description": description}
        if fams.get(name) == entry:
            return entry
        if name in fams and fams[name]["features"] != features:
            raise UserError(f"family {name!r} already holds {fams[name]['features']}; delete_family it first to "
                            f"regroup (the features keep their values)")
        lake._publish(operation="register_family", registry=reg, windows=head["windows"], deltas=None, n_deltas=0,
                      processed_through=head["processed_through"], parent=head["id"],
                      extra={"subject": name, "families": {**fams, name: entry}})
    return entry


def delete_family(lake, name: str) -> None:
    check_family_name(name)
    with lake.writing():
        head = lake._head()
        fams = families_of(head)
        if name not in fams:
            raise UserError(f"unknown family {name!r}; registered families: {sorted(fams)}")
        del fams[name]
        lake._publish(operation="delete_family", registry=lake._registry_of(head), windows=head["windows"],
                      deltas=None, n_deltas=0, processed_through=head["processed_through"], parent=head["id"],
                      extra={"subject": name, "families": fams})


def write_family(lake, name: str, frame: pl.DataFrame, **write_args):
    """Write all of a family's features from ``frame`` in one commit; a missing or foreign column is refused."""
    members = expand(lake._head(), [check_family_name(name)[0]])
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"frame must be a polars DataFrame, got {type(frame).__name__}")
    missing = [f for f in members if f not in frame.columns]
    if missing:
        raise UserError(f"family {name!r} is written together: the frame lacks {missing} (a column of nulls "
                        f"says 'no value')")
    key_cols = {*_names(write_args.get("entities", ("customer",))), *_names(write_args.get("context", ())),
                *_names(write_args.get("attributes", ())), write_args.get("time", "time")}
    foreign = [c for c in frame.columns if c not in key_cols and c not in members]
    if foreign:
        raise UserError(f"family {name!r} holds {members}; the frame also has {foreign}: write those separately")
    return lake.write(frame, **write_args)


def _names(v) -> tuple:
    return () if v is None else ((v,) if isinstance(v, str) else tuple(v))


# ---- delete and update -----------------------------------------------------------------------------------
def _clear_batch(data, feature: str, rows: np.ndarray, tsel: np.ndarray):
    """A batch that clears ``feature`` at every stored value of the selected key rows and times."""
    present = np.zeros(data.shape, dtype=bool)
    if feature in data.dtypes and len(rows):
        present[rows] = valid_mask(data.dtypes[feature], data.raw(feature)[rows])
    present &= tsel[None, :]
    ki, ti = np.nonzero(present)
    uniq = np.unique(ki)
    keys = pl.DataFrame({"__kid": np.arange(len(uniq), dtype=np.int64),
                         "__digest": pl.Series(data.keys[uniq].astype(str), dtype=pl.String),
                         "__components": pl.Series(data.components[uniq].astype(str), dtype=pl.String)})
    kid = np.searchsorted(uniq, ki)
    updates = pl.DataFrame({"__kid": kid.astype(np.int64), "__t": data.times[ti].astype(np.int64),
                            "value": pl.Series([None] * len(ki), dtype=pl.Float64)})
    return (keys, {feature: updates}) if len(ki) else None


def delete(lake, feature: str, keys=None, window: str = "day", start=None, end=None):
    """Clear ``feature``'s stored values (all keys, or ``keys``: EventKeys or digests; within [start, end])."""
    from workbench.lake._storage import WriteReport

    lake._check_window(window)
    lo, hi = instant_ns(start, "start"), instant_ns(end, "end")
    with lake.writing():
        head, data = lake._snapshot(window)
        reg = lake._registry_of(head)
        reg.feature(feature)  # KeyError naming the registered ones
        if keys is None:
            rows = np.arange(data.shape[0])
        else:
            keys = [keys] if isinstance(keys, str) or not hasattr(keys, "__iter__") else list(keys)
            rows = np.array([p for p in (data.key_position(lake._digest(k, window)) for k in keys) if p >= 0], int)
        tsel = np.ones(data.shape[1], dtype=bool)
        if lo is not None:
            tsel &= data.times >= lo
        if hi is not None:
            tsel &= data.times <= hi
        batch = _clear_batch(data, feature, rows, tsel)
        if batch is None:
            return WriteReport(None, window, 0, 0, 0)
        commit, stats = lake._commit_updates(head, reg, {window: batch}, operation="delete", subject=feature)
    return WriteReport(commit["id"] if commit else None, window, 0, stats["changed"], 0)


def update(lake, frame: pl.DataFrame, window: str = "day", entities=("customer",), time: str = "time",
           context=(), attributes=()):
    """A write that only changes values already stored; refuses (naming the first) rows that would add one."""
    from workbench.lake._storage import WriteReport

    with lake.writing():
        head = lake._head()
        reg = lake._registry_of(head)
        blobs: dict[str, bytes] = {}
        frame = prepare_media(frame, reg, blobs)
        keys, updates = prepare_frame(frame, reg, window, entities, time, context, attributes)
        data = lake._window(head, window)
        joined = keys.join(data.key_index(), on="__digest", how="left").sort("__kid")
        kidx = joined["__kidx"].fill_null(-1).to_numpy()
        for feat, u in updates.items():
            k = kidx[u["__kid"].to_numpy()]
            t_ns = u["__t"].to_numpy()
            tpos = np.searchsorted(data.times, t_ns)
            found = (k >= 0) & (tpos < len(data.times))
            found[found] = data.times[tpos[found]] == t_ns[found]
            if feat in data.dtypes and found.any():
                found[found] = valid_mask(data.dtypes[feat], data.raw(feat)[k[found], tpos[found]])
            else:
                found[:] = False
            if not found.all():
                i = int(np.flatnonzero(~found)[0])
                comp = joined["__components"][int(u["__kid"][i])]
                at = np.datetime64(int(t_ns[i]), "ns")
                raise UserError(f"update would add {int((~found).sum())} value(s) of {feat!r} that are not stored "
                                f"(first: key {comp}, time {at}); update only corrects stored values, use write() "
                                f"to add new ones")
        commit, stats = lake._commit_updates(head, reg, {window: (keys, updates)}, operation="update", blobs=blobs)
    return WriteReport(commit["id"] if commit else None, window, stats["written"], stats["changed"], 0)


def delete_feature(lake, name: str):
    """Clear every value of ``name`` (deltas), drop its arrays, unregister it: one commit."""
    with lake.writing():
        head = lake._head()
        reg = lake._registry_of(head)
        reg.feature(name)
        users = [f for f, spec in reg.functions.items() if name in spec.inputs or name in spec.outputs]
        if users:
            raise UserError(f"feature {name!r} is read or written by {users}; delete_feature refuses to leave them "
                            f"dangling: remove those functions first")
        fams = [f for f, e in families_of(head).items() if name in e["features"]]
        if fams:
            raise UserError(f"feature {name!r} belongs to famil{'ies' if len(fams) > 1 else 'y'} {fams}; "
                            f"delete_family first")
        batches = {}
        for window in head["windows"]:
            data = lake._window(head, window)
            if name in data.dtypes:
                batches[window] = _clear_batch(data, name, np.arange(data.shape[0]), np.ones(data.shape[1], bool)) \
                    or (pl.DataFrame(schema={"__kid": pl.Int64, "__digest": pl.String, "__components": pl.String}),
                        {name: pl.DataFrame(schema={"__kid": pl.Int64, "__t": pl.Int64, "value": pl.Float64})})
        features = {k: v for k, v in reg.features.items() if k != name}
        new_reg = Registry(features, reg.functions)
        commit, stats = lake._commit_updates(head, reg, batches, operation="delete_feature", subject=name,
                                             drop={name}, registry_after=new_reg)
        if commit is None:  # no values anywhere: only the registry changes
            lake._publish(operation="delete_feature", registry=new_reg, windows=head["windows"], deltas=None,
                          n_deltas=0, processed_through=head["processed_through"], parent=head["id"],
                          extra={"subject": name})
    return stats["changed"]


def family_table(head: dict) -> pl.DataFrame:
    rows = [{"family": n, "entity": FAMILY_NAME.match(n)["entity"], "features": ", ".join(e["features"]),
             "description": e.get("description", "")} for n, e in sorted(families_of(head).items())]
    return pl.DataFrame(rows, schema={"family": pl.String, "entity": pl.String, "features": pl.String,
                                      "description": pl.String})


__all__ = ["FAMILY_NAME", "check_family_name", "delete", "delete_family", "delete_feature", "expand",
           "family_table", "register_family", "update", "write_family"]
