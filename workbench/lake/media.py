"""Media features: text, image, audio and video payloads held by reference.

A feature registered with one of the quantities :data:`MEDIA` (``dtype="image"`` and so on) stores, in its
(key, time) cell, a *reference* to a payload, never the payload itself:

* ``sha256:<64 hex>`` -- bytes given to :meth:`FeatureLake.write` as a ``pl.Binary`` column. They are stored
  once, content-addressed, at ``<lake>/media/sha256/<first 2 hex>/<64 hex>`` beside the zarr stores: the same
  image written for a thousand keys (or twice) is one file. The name *is* the checksum, so every read
  re-hashes and a flipped bit raises :class:`LakeIntegrityError` instead of returning other bytes.
* ``<scheme>://...`` -- a URI given as a ``pl.String`` column (``s3://bucket/x.png``, ``file:///data/x.wav``):
  the lake keeps the URI and fetches it through fsspec when the payload is asked for.

Reads choose what comes back with ``media=``: ``"bytes"`` (the payload; the default), ``"uri"`` (where it
lives: the blob's own URL for stored bytes, the given URI otherwise) or ``"ref"`` (the stored reference).
Functions whose inputs are media features receive the payload bytes (a ``pl.Binary`` column).

Crash safety, the same rule as every other object of a batch (see :mod:`._store`): the blobs a batch
references are written (temporary name, fsync, rename, fsync of the folder) *before* the commit that names
the window version holding their references is published. A writer killed before that commit leaves blobs
that nothing references: ``check`` lists them as orphans and ``vacuum`` removes them. A reference a reader
can see therefore always has its bytes on disk; a blob whose window versions are all vacuumed goes with them.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import polars as pl

from workbench.errors import UserError
from workbench.lake._errors import LakeIntegrityError

#: The media quantities a feature can hold by reference.
MEDIA = ("text", "image", "audio", "video")
BLOBS = "media"
MEDIA_HOW = ("bytes", "uri", "ref")
_REF = re.compile(r"^sha256:[0-9a-f]{64}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


def is_media(dtype: str | None) -> bool:
    return dtype in MEDIA


def storage_dtype(dtype: str) -> str:
    """How a feature's cells are stored: a media reference is text (a category code per distinct reference)."""
    return "string" if dtype in MEDIA else dtype


def is_blob_ref(ref: str) -> bool:
    return isinstance(ref, str) and bool(_REF.match(ref))


def blob_ref(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def blob_rel(ref: str) -> str:
    """Where a stored payload lives, relative to the lake root."""
    digest = ref[len("sha256:"):]
    return f"{BLOBS}/sha256/{digest[:2]}/{digest}"


def ref_of_rel(rel: str) -> str | None:
    name = rel.rstrip("/").rsplit("/", 1)[-1]
    ref = "sha256:" + name
    return ref if is_blob_ref(ref) and blob_rel(ref) == rel else None


def check_how(media: str) -> str:
    if media not in MEDIA_HOW:
        raise UserError(f"media={media!r}; expected one of {MEDIA_HOW} ('bytes': the payload, 'uri': where it "
                        f"lives, 'ref': the stored reference)")
    return media


# ---- writing -----------------------------------------------------------------------------------------
def prepare_media(frame: pl.DataFrame, registry, staged: dict[str, bytes]) -> pl.DataFrame:
    """Replace every media column of a wide ``frame`` by its references; payloads go into ``staged``
    ({ref: bytes}) for the commit to write. Refuses values that are neither bytes nor a URI."""
    if not isinstance(frame, pl.DataFrame):
        return frame  # prepare_frame names the wrong type
    features = registry.features
    media_cols = [c for c in frame.columns if c in features and is_media(features[c].dtype)]
    if "feature" in frame.columns and "value" in frame.columns:
        names = frame["feature"].drop_nulls().unique().to_list()
        media = sorted(n for n in names if n in features and is_media(features[n].dtype))
        if media:
            raise UserError(f"media feature(s) {media} in a long (feature, value) frame; write media in a wide "
                            f"frame, one column per feature (pl.Binary payloads or pl.String URIs)")
    if not media_cols:
        return frame
    replaced = []
    for col in media_cols:
        s = frame[col]
        quantity = features[col].dtype
        if s.dtype == pl.Null:
            replaced.append(s.cast(pl.String))
        elif s.dtype == pl.Binary:
            refs = []
            for payload in s.to_list():
                if payload is None:
                    refs.append(None)
                    continue
                ref = blob_ref(payload)
                staged.setdefault(ref, payload)
                refs.append(ref)
            replaced.append(pl.Series(col, refs, dtype=pl.String))
        elif s.dtype == pl.String:
            bad = [i for i, v in enumerate(s.to_list()) if v is not None and not _URI.match(v)]
            if bad:
                hint = (" (a text payload goes in as bytes: pl.col(name).cast(pl.Binary))" if quantity == "text"
                        else "")
                raise UserError(f"media feature {col!r} ({quantity}): rows {bad[:10]} hold text that is not a URI "
                                f"such as 's3://bucket/x.png'; pass payloads as a pl.Binary column{hint}")
            replaced.append(s)
        else:
            raise UserError(f"media feature {col!r} ({quantity}) got a {s.dtype} column; pass the payload as "
                            f"pl.Binary (bytes) or its location as a pl.String URI")
    return frame.with_columns(replaced)


def write_blobs(log, refs: dict[str, bytes]) -> list[str]:
    """Make every payload in ``refs`` durable under its content address (skipping ones already stored
    intact); returns the references written now. Runs before the commit that references them."""
    written = []
    for ref, payload in sorted(refs.items()):
        rel = blob_rel(ref)
        path = log.path(rel)
        if log.fs.exists(path):
            try:
                if blob_ref(log.fs.cat_file(path)) == ref:
                    continue  # stored once: a second write of the same bytes adds nothing
            except OSError:
                pass
        log.write_bytes_atomic(rel, payload)
        written.append(ref)
    return written


# ---- reading -----------------------------------------------------------------------------------------
def read_blob(log, ref: str, where: str = "") -> bytes:
    rel = blob_rel(ref)
    try:
        payload = log.fs.cat_file(log.path(rel))
    except FileNotFoundError:
        raise LakeIntegrityError(f"media payload {rel}{where} is missing", url=log.url, file=rel) from None
    if blob_ref(payload) != ref:
        raise LakeIntegrityError(f"media payload {rel}{where} fails its SHA-256 (the bytes changed on disk)",
                                 url=log.url, file=rel)
    return payload


def resolve(log, ref: str | None, how: str, where: str = ""):
    """A stored reference as the payload (``bytes``), its location (``uri``) or itself (``ref``)."""
    if ref is None or how == "ref":
        return ref
    if is_blob_ref(ref):
        return read_blob(log, ref, where) if how == "bytes" else log.url_of(blob_rel(ref))
    if how == "uri":
        return ref
    import fsspec

    try:
        with fsspec.open(ref, "rb") as f:
            return f.read()
    except (OSError, ValueError, ImportError) as exc:
        raise UserError(f"media URI {ref!r}{where} cannot be read ({type(exc).__name__}: {exc}); fix the location "
                        f"or read it with media='uri'") from None


def resolve_series(log, s: pl.Series, how: str, where: str = "") -> pl.Series:
    if how == "ref":
        return s
    values = [resolve(log, v, how, where) for v in s.to_list()]
    return pl.Series(s.name, values, dtype=pl.Binary if how == "bytes" else pl.String)


# ---- maintenance -------------------------------------------------------------------------------------
def stored_blobs(log) -> dict[str, str]:
    """Every blob file under ``media/`` ({relative path: reference or None for a file that is not one})."""
    out: dict[str, str | None] = {}
    base = log.path(BLOBS)
    if not log.fs.exists(base):
        return out
    for p in log.fs.find(base):
        rel = BLOBS + p[len(base):] if p.startswith(base) else f"{BLOBS}/" + p.rsplit(f"/{BLOBS}/", 1)[-1]
        out[rel] = ref_of_rel(rel)
    return out


def media_features(commits) -> set[str]:
    """Names of the features registered as media in any of ``commits`` (a dtype never changes, so the
    union is each name's one meaning)."""
    names = set()
    for c in commits:
        reg = c.get("registry") if isinstance(c, dict) else None
        for f in (reg.get("features", []) if isinstance(reg, dict) else []):
            # a malformed entry is the registry check's finding, not a reason to fail here
            if isinstance(f, dict) and f.get("dtype") in MEDIA and isinstance(f.get("name"), str):
                names.add(f["name"])
    return names


def window_refs(log, rel: str, features: set[str]) -> set[str]:
    """The blob references a stored window version holds (the categories of its media features)."""
    import zarr

    from workbench.lake._window import var_name

    refs: set[str] = set()
    try:
        group = zarr.open_group(log.url_of(rel), mode="r")
        names = set(group.array_keys())
    except Exception:  # noqa: BLE001 - an unreadable version is check's to report; keep nothing here
        return refs
    for feat in features:
        v = var_name(feat)
        if v in names:
            # Only codes some cell holds: a category list keeps every text ever written to the feature,
            # an overwritten payload's among them, which no reader of this version can reach.
            cats = list(group[v].attrs.get("categories", []))
            try:
                used = np.unique(np.asarray(group[v][:]))
            except Exception:  # noqa: BLE001 - damaged chunks: keep every listed payload (check reports it)
                used = np.arange(len(cats))
            refs |= {cats[int(i)] for i in used if 0 <= int(i) < len(cats) and is_blob_ref(cats[int(i)])}
    return refs
