"""Media features: payloads by bytes (content-addressed, in the batch's commit) or by URI; reads return either."""

import datetime as dt
import hashlib
import os

import polars as pl
import pytest

from workbench.errors import UserError
from workbench.lake import EventKey, FeatureLake, LakeIntegrityError
from workbench.lake.media import blob_rel

D = dt.datetime
IMAGE = "/health/feature/patient/image/log_sheet"
NOTE = "/health/feature/patient/text/note"
SIZE = "/health/feature/patient/sheet_bytes"


def key(p):
    return EventKey({"patient": p}, window="day")


def blobs(lake) -> list[str]:
    base = os.path.join(lake.url, "media", "sha256")
    return sorted(f for _, _, files in os.walk(base) for f in files) if os.path.exists(base) else []


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    lake.register_feature(IMAGE, "image", description="a scanned paper log")
    lake.register_feature(NOTE, "text")
    return lake


def frame(patients, payloads, day=2, col=IMAGE):
    return pl.DataFrame({"patient": patients, "time": [D(2026, 1, day)] * len(patients),
                         col: pl.Series(payloads, dtype=pl.Binary if isinstance(payloads[0], bytes) else pl.String)})


def test_bytes_are_stored_once_by_sha256_and_read_back_as_payload_uri_or_ref(lake):
    report = lake.write(frame(["a", "b", "c"], [b"PNG-1", b"PNG-1", b"PNG-2"]), entities="patient")
    assert report.values_written == 3
    digest = hashlib.sha256(b"PNG-1").hexdigest()
    assert blobs(lake) == sorted([digest, hashlib.sha256(b"PNG-2").hexdigest()])  # two files for three cells
    assert lake.get(key("b"), IMAGE) == b"PNG-1"
    assert lake.get(key("b"), IMAGE, media="ref") == f"sha256:{digest}"
    uri = lake.get(key("b"), IMAGE, media="uri")
    assert uri.endswith(blob_rel(f"sha256:{digest}")) and open(uri, "rb").read() == b"PNG-1"
    # the commit that made the cells visible names the payloads it references
    head = lake._log.head(fresh=True)
    assert head["media"] == sorted({f"sha256:{digest}", "sha256:" + hashlib.sha256(b"PNG-2").hexdigest()})
    # the same batch again changes nothing: no commit, no file
    again = lake.write(frame(["a", "b", "c"], [b"PNG-1", b"PNG-1", b"PNG-2"]), entities="patient")
    assert again.commit is None and len(blobs(lake)) == 2


def test_history_and_training_frame_return_payloads_point_in_time(lake):
    lake.write(frame(["a"], [b"v1"], day=2), entities="patient")
    lake.write(frame(["a"], [b"v2"], day=5), entities="patient")
    h = lake.history(key("a"), IMAGE)
    assert h[IMAGE].dtype == pl.Binary and h[IMAGE].to_list() == [b"v1", b"v2"]
    rows = pl.DataFrame({"patient": ["a", "a", "a"], "event_time": [D(2026, 1, 1), D(2026, 1, 3), D(2026, 1, 9)]})
    tf = lake.training_frame(rows, [IMAGE])
    assert tf[IMAGE].to_list() == [None, b"v1", b"v2"]  # never the later sheet
    refs = lake.training_frame(rows, [IMAGE], media="ref")[IMAGE].to_list()
    assert refs[0] is None and refs[1] == "sha256:" + hashlib.sha256(b"v1").hexdigest()


def test_a_uri_is_kept_as_given_and_fetched_on_read(lake, tmp_path):
    path = tmp_path / "scan.png"
    path.write_bytes(b"remote bytes")
    lake.write(frame(["a"], [f"file://{path}"]), entities="patient")
    assert lake.get(key("a"), IMAGE, media="uri") == f"file://{path}"
    assert lake.get(key("a"), IMAGE) == b"remote bytes"
    assert blobs(lake) == []  # nothing copied: the feature holds the location


def test_text_that_is_not_a_uri_is_refused_and_nothing_is_written(lake):
    version = lake.version
    with pytest.raises(UserError, match=r"not a URI.*pl.Binary.*cast\(pl.Binary\)"):
        lake.write(frame(["a"], ["just a note"], col=NOTE), entities="patient")
    with pytest.raises(UserError, match="got a Int64 column"):
        lake.write(pl.DataFrame({"patient": ["a"], "time": [D(2026, 1, 2)], IMAGE: [3]}), entities="patient")
    assert lake.version == version and blobs(lake) == []
    # a text payload goes in as bytes
    lake.write(frame(["a"], ["a real note".encode()], col=NOTE), entities="patient")
    assert lake.get(key("a"), NOTE) == b"a real note"


def test_long_frames_and_unknown_quantities_are_refused(lake):
    with pytest.raises(UserError, match="wide frame"):
        lake.write(pl.DataFrame({"patient": ["a"], "time": [D(2026, 1, 2)], "feature": [IMAGE],
                                 "value": ["s3://b/x.png"]}), entities="patient")
    with pytest.raises(ValueError, match="media quantity"):
        lake.register_feature("/health/feature/patient/image/x", "pdf")


def test_payloads_are_durable_before_the_commit_that_references_them(lake, monkeypatch):
    seen = {}

    def at_publish(self, commit):
        for ref in commit.get("media", []):
            p = os.path.join(lake.url, blob_rel(ref))
            seen[ref] = os.path.exists(p) and "sha256:" + hashlib.sha256(open(p, "rb").read()).hexdigest() == ref

    monkeypatch.setattr(FeatureLake, "_before_publish", at_publish)
    lake.write(frame(["a", "b"], [b"one", b"two"]), entities="patient")
    assert len(seen) == 2 and all(seen.values())


def test_a_changed_payload_byte_is_an_integrity_error_not_other_bytes(lake):
    lake.write(frame(["a"], [b"original"]), entities="patient")
    ref = lake.get(key("a"), IMAGE, media="ref")
    with open(os.path.join(lake.url, blob_rel(ref)), "r+b") as f:
        f.write(b"X")
    with pytest.raises(LakeIntegrityError, match="fails its SHA-256"):
        lake.get(key("a"), IMAGE)
    report = lake.check()
    assert report.exit_code == 4 and any("fails its SHA-256" in f.what for f in report.damage)
    os.remove(os.path.join(lake.url, blob_rel(ref)))
    assert any("dangling reference" in f.what for f in lake.check().damage)


def test_vacuum_collects_orphan_and_superseded_payloads_only(lake):
    lake.write(frame(["a", "b"], [b"old-a", b"keep-b"]), entities="patient")
    lake.write(frame(["a"], [b"new-a"]), entities="patient")  # a new version: the old one still references old-a
    orphan = os.path.join(lake.url, blob_rel("sha256:" + hashlib.sha256(b"never committed").hexdigest()))
    os.makedirs(os.path.dirname(orphan), exist_ok=True)
    open(orphan, "wb").write(b"never committed")
    found = {f.file: f.kind for f in lake.check().findings}
    assert found == {blob_rel("sha256:" + hashlib.sha256(b"never committed").hexdigest()): "orphan"}
    removed = lake.vacuum(keep_versions=2)
    assert blob_rel("sha256:" + hashlib.sha256(b"never committed").hexdigest()) in removed
    assert len(blobs(lake)) == 3  # old-a is still referenced by the version vacuum kept
    removed = lake.vacuum(keep_versions=1)
    assert blob_rel("sha256:" + hashlib.sha256(b"old-a").hexdigest()) in removed
    assert lake.get(key("a"), IMAGE) == b"new-a" and lake.get(key("b"), IMAGE) == b"keep-b"
    assert lake.check().exit_code == 0


def test_repair_removes_orphan_payloads(lake):
    lake.write(frame(["a"], [b"kept"]), entities="patient")
    orphan = blob_rel("sha256:" + hashlib.sha256(b"stray").hexdigest())
    os.makedirs(os.path.join(lake.url, os.path.dirname(orphan)), exist_ok=True)
    open(os.path.join(lake.url, orphan), "wb").write(b"stray")
    report = lake.check(repair=True)
    assert f"removed orphan {orphan}" in report.repaired and report.exit_code == 1
    assert lake.get(key("a"), IMAGE) == b"kept"


def size_of(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select("key", "time", pl.col(IMAGE).bin.size().cast(pl.Int64).alias(SIZE))


def test_an_interpretation_function_runs_when_a_media_feature_is_written(lake):
    lake.register_feature(SIZE, "int", unit="By")
    lake.register_function("/health/function/interpretation/image/sheet_size", size_of, [IMAGE], [SIZE], kind="DL")
    report = lake.write(frame(["a", "b"], [b"12345", b"12"]), entities="patient")
    assert report.interpreted is not None and report.interpreted.calls[0]["rows_in"] == 2
    assert lake.get(key("a"), SIZE) == 5 and lake.get(key("b"), SIZE) == 2
    # interpret=False leaves it pending, for a later run_pending
    later = lake.write(frame(["c"], [b"1234567"]), entities="patient", interpret=False)
    assert later.interpreted is None and lake.get(key("c"), SIZE) is None
    lake.run_pending()
    assert lake.get(key("c"), SIZE) == 7


def test_a_function_can_write_media(lake):
    lake.register_feature("/health/feature/patient/value", "float")
    thumb = "/health/feature/patient/image/thumbnail"
    lake.register_feature(thumb, "image")

    def render(inputs):
        return inputs.select("key", "time", pl.col("/health/feature/patient/value").cast(pl.String)
                             .cast(pl.Binary).alias(thumb))

    lake.register_function("/health/function/inference/render", render, ["/health/feature/patient/value"], [thumb])
    lake.write(pl.DataFrame({"patient": ["a"], "time": [D(2026, 1, 2)], "/health/feature/patient/value": [1.5]}),
               entities="patient")
    lake.run_pending()
    assert lake.get(key("a"), thumb) == b"1.5"
    assert lake.check().exit_code == 0


def test_media_on_an_fsspec_store_reads_back_and_vacuums_the_same(tmp_path):
    lake = FeatureLake.open(f"memory://media-{tmp_path.name}")
    lake.register_feature(IMAGE, "image")
    lake.write(frame(["a", "b"], [b"m1", b"m2"]), entities="patient")
    lake.write(frame(["a"], [b"m3"]), entities="patient")
    assert lake.get(key("a"), IMAGE) == b"m3" and lake.get(key("a"), IMAGE, media="uri").startswith("memory://")
    removed = lake.vacuum(keep_versions=1)
    assert blob_rel("sha256:" + hashlib.sha256(b"m1").hexdigest()) in removed
    assert lake.get(key("b"), IMAGE) == b"m2" and lake.check().exit_code == 0
