"""The slicer's promises, each with a test a one-line break of it fails: newest result wins, debounce and
its fast path, independent layers, transforms, pyramids, thick slices, labels, data changes, the log."""

from __future__ import annotations

import errno
import gc
import shutil
import subprocess
import threading
import time
import weakref

import numpy as np
import pytest

from workbench.errors import UserError
from workbench.slicing import (
    LAYER_TYPES,
    LayerSlice,
    LayerType,
    Transform,
    Viewer,
    build_pyramid,
    read_latency_log,
    register_layer_type,
    slow_store,
    store_stats,
)
from workbench.slicing._latency_log import LatencyLog
from workbench.slicing._layer_labels import label_colors
from workbench.slicing._layers import paint_raster
from workbench.slicing._slicing import LayerSlicer

pytestmark = pytest.mark.timeout(60)


def volume(shape=(6, 16, 20), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


class GatedArray:
    """Reads of plane ``i`` block until the test opens gate ``i``: completions in any order the test likes."""

    def __init__(self, array):
        self._array = array
        self.shape, self.dtype = array.shape, array.dtype
        self.gates = [threading.Event() for _ in range(array.shape[0])]
        self.started = [threading.Event() for _ in range(array.shape[0])]

    def __getitem__(self, key):
        self.started[key[0]].set()
        if not self.gates[key[0]].wait(20):
            raise TimeoutError(f"gate {key[0]} never opened")
        return self._array[key]


def newest_violations(viewer, data, events):
    """Run ``events`` (("move", i) or ("release", i)) and record every display of a non-newest result.

    Independent of the slicer's own bookkeeping: at each display, the slice's indices must equal the
    viewer's current indices (every move makes a new request, so those are the newest request's), and the
    frame must show exactly that plane of the data.
    """
    violations = []

    def check(name, piece):
        if piece.request.indices != viewer._model.indices:
            violations.append((piece.request.indices[0], viewer._model.indices[0]))

    viewer._slicer.layer_hooks.append(check)
    for kind, i in events:
        if kind == "move":
            viewer.set_index(0, i)
        else:
            data.gates[i].set()
            deadline = time.perf_counter() + 5
            while not len(viewer._slicer.dispatcher) and time.perf_counter() < deadline:
                time.sleep(0.005)  # until that read's outcome is posted to the owner
            _ = viewer.frame  # apply it, as the kernel's loop would
    for gate in data.gates:
        gate.set()
    assert viewer.wait_idle(10)
    frame = viewer.frame
    if frame.indices != viewer.indices or not np.array_equal(frame.data, data._array[frame.indices[0]]):
        violations.append(("final", frame.indices[0]))
    return violations


# Three moves run at once (three workers, no cancellation); the middle one finishes first, then the
# oldest, then the newest. Only the newest may ever be shown.
SCENARIO = [("release", 0), ("move", 1), ("move", 2), ("move", 3), ("release", 2), ("release", 1), ("release", 3)]


def gated_viewer():
    data = GatedArray(volume((5, 8, 8)))
    viewer = Viewer(data, max_workers=3, cancel_running=False, debounce_s=0, cache_bytes=0)
    return viewer, data


def test_a_result_that_is_no_longer_the_newest_is_never_displayed():
    viewer, data = gated_viewer()
    try:
        assert newest_violations(viewer, data, SCENARIO) == []
        stats = viewer.stats
    finally:
        viewer.close()
    assert stats["discarded"] == 2 and stats["displayed"] == 2  # planes 2 and 1 came back stale


def test_the_newest_check_catches_a_broken_viewer(monkeypatch):
    # The broken viewer of the issue: it shows any result newer than the one on screen, even when a
    # still newer request is on its way. The check above must fail it.
    def newer_than_shown(self, track, request):
        return request.chain > track.shown_chain

    monkeypatch.setattr(LayerSlicer, "should_display", newer_than_shown)
    viewer, data = gated_viewer()
    try:
        violations = newest_violations(viewer, data, SCENARIO)
    finally:
        viewer.close()
    assert violations == [(2, 3)], violations


# ---------------------------------------------------------------- debounce and its fast path
def test_debounce_coalesces_a_burst_and_in_memory_data_skips_it():
    store = slow_store(volume((30, 8, 8)), latency=0.0)
    with Viewer(store, debounce_s=1.0, fast_slice_s=0.0, cache_bytes=0) as viewer:  # long: a loaded CI stalls
        assert viewer.wait_idle(5)
        started = viewer.stats["started"]
        for i in range(1, 20):
            viewer.set_index(0, i)
        assert viewer.stats["started"] == started  # nothing read during the burst
        assert viewer.wait_idle(5)
        assert viewer.stats["started"] == started + 1 and viewer.frame.indices[0] == 19
    with Viewer(volume((30, 8, 8)), debounce_s=5.0) as viewer:  # numpy: known fast, no wait
        assert viewer._slicer.delay_for("image") == 0.0
        viewer.set_index(0, 7)
        assert viewer.wait_idle(2) and viewer.frame.indices[0] == 7


def test_debounce_is_skipped_once_a_layer_proved_fast():
    store = slow_store(volume((30, 8, 8)), latency=0.0)
    with Viewer(store, debounce_s=0.5, fast_slice_s=0.5, cache_bytes=0) as viewer:
        assert viewer._slicer.delay_for("image") == 0.5  # nothing known yet
        for i in (1, 2, 3):
            viewer.set_index(0, i)
            viewer.wait_idle(5)
        assert viewer._slicer.delay_for("image") == 0.0  # three slices under fast_slice_s


# ---------------------------------------------------------------- independent layers
def two_layer_viewer(together=False):
    fast = volume((6, 8, 8), seed=1)
    slow = slow_store(volume((6, 8, 8), seed=2), latency=0.8, interruptible=False)
    viewer = Viewer(fast, name="fast", layers_together=together, debounce_s=0, cache_bytes=0)
    viewer.add_image(slow, name="slow", opacity=0.5)
    assert viewer.wait_idle(10)
    return viewer, fast


def test_a_fast_layer_shows_while_a_slow_one_loads():
    viewer, fast = two_layer_viewer()
    try:
        widget = viewer.widget
        viewer.set_index(0, 3)
        deadline = time.perf_counter() + 5
        while viewer.loading["fast"] and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert viewer.loading == {"fast": False, "slow": True}
        frame = viewer.frame
        assert frame.layer("fast").request.indices[0] == 3 and frame.layer("slow").request.indices[0] == 0
        status = viewer._controls["status"].value
        assert "data-layer='fast' data-loading='false'" in status and "data-layer='slow' data-loading='true'" in status
        assert viewer.wait_idle(10) and viewer.loading == {"fast": False, "slow": False}
        assert viewer.frame.layer("slow").request.indices[0] == 3 and widget.children
    finally:
        viewer.close()


def test_layers_together_waits_for_every_layer():
    viewer, fast = two_layer_viewer(together=True)
    try:
        frames = viewer.stats["frames"]
        viewer.set_index(0, 3)
        deadline = time.perf_counter() + 5
        while viewer.loading["fast"] and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert not viewer.loading["fast"] and viewer.loading["slow"]
        assert viewer.stats["frames"] == frames and viewer.frame.indices[0] == 0  # not redrawn yet
        assert viewer.wait_idle(10)
        assert {p.request.indices[0] for p in viewer.frame.layers} == {3}
    finally:
        viewer.close()


# ---------------------------------------------------------------- transforms
def test_layers_with_different_scales_line_up():
    fine = np.zeros((4, 8, 8), np.float32)
    fine[:, 2:4, 4:6] = 1.0  # a bright square in world rows 2..3, cols 4..5
    coarse = np.zeros((4, 4, 4), np.int64)
    coarse[:, 1, 2] = 5  # the same square at half resolution: scale 2, pixel centres at 2*i + 0.5
    with Viewer(fine, asynchronous=False, contrast_limits=(0, 1)) as viewer:
        viewer.add_labels(coarse, scale=(1, 2, 2), translate=(0, 0.5, 0.5), opacity=1.0)
        frame = viewer.frame
        assert frame.rgba.shape[:2] == (8, 8)
        labelled = frame.rgba[..., :3].astype(int).sum(-1) != 255 * 3
        bright = fine[0] == 1
        np.testing.assert_array_equal(labelled & (frame.rgba[..., 3] == 255), bright | ~bright)
        np.testing.assert_array_equal(frame.rgba[bright][:, :3], np.tile(label_colors(np.array([5]))[0], (4, 1)))
        assert (frame.rgba[~bright][:, :3] == 0).all()  # black image elsewhere, labels 0 transparent
        piece = frame.layer("labels")
        assert piece.data_to_world == Transform((2.0, 2.0), (0.5, 0.5))
        assert piece.request.world_to_data.to_world((0, 2.5, 4.5)).tolist() == [0, 1, 2]


def test_float_world_point_and_scaled_slider_steps():
    data = volume((5, 8, 8))
    with Viewer(data, asynchronous=False, scale=(2.0, 1, 1), translate=(10.0, 0, 0)) as viewer:
        assert viewer.shape == (5, 8, 8) and viewer.point[0] == 10.0
        viewer.set_point(0, 14.9)  # nearest plane: (14.9 - 10) / 2 = 2.45 -> 2
        assert viewer.frame.layer("image").request.point[0] == 14.9
        np.testing.assert_array_equal(viewer.frame.data, data[2])
        viewer.set_index(0, 4)
        assert viewer.point[0] == 18.0
        np.testing.assert_array_equal(viewer.frame.data, data[4])


def test_affine_is_accepted_when_axis_aligned_and_refused_otherwise():
    aligned = np.diag([2.0, 3.0, 4.0, 1.0])
    aligned[:3, 3] = (1, 2, 3)
    assert Transform.from_affine(aligned, 3) == Transform((2.0, 3.0, 4.0), (1.0, 2.0, 3.0))
    rotation = np.eye(4)
    rotation[1, 2] = 0.5
    with pytest.raises(UserError, match="axis-aligned"):
        Viewer(volume(), affine=rotation)
    t = Transform((2.0, 4.0), (1.0, -1.0))
    np.testing.assert_allclose(t.inverse().to_world(t.to_world([3.0, 5.0])), [3.0, 5.0])


# ---------------------------------------------------------------- a new layer type touches one file
def test_a_registered_layer_type_works_without_touching_the_viewer():
    from dataclasses import dataclass
    from typing import ClassVar

    from workbench.slicing._layers import LayerState, raster_bounds, read_raster, weak
    from workbench.slicing._sources import as_source

    @dataclass(frozen=True, eq=False, kw_only=True)
    class MaskState(LayerState):
        kind: ClassVar[str] = "mask"
        thickness: float = 0.0

    @register_layer_type
    class Mask(LayerType):
        kind: ClassVar[str] = "mask"

        @classmethod
        def make_state(cls, data, *, name, ndim, version=0):
            source = as_source(data)
            return MaskState(name=name, data_ref=weak(source), transform=Transform.identity(source.ndim),
                             version=version), source

        bounds = staticmethod(raster_bounds)

        @staticmethod
        def slice(request, cache):
            plane, hit, grid = read_raster(request, cache)
            rgba = np.zeros(plane.shape + (4,), np.uint8)
            rgba[plane] = (0, 255, 0, 255)
            return LayerSlice(request=request, data=plane, data_to_world=grid, rgba=rgba)

    try:
        mask = np.zeros((3, 6, 6), bool)
        mask[1, 2, 3] = True
        with Viewer(np.zeros((3, 6, 6)), asynchronous=False, contrast_limits=(0, 1)) as viewer:
            viewer.add_mask(mask)
            viewer.set_index(0, 1)
            assert tuple(viewer.frame.rgba[2, 3, :3]) == (0, 255, 0)
    finally:
        LAYER_TYPES.pop("mask")
    with pytest.raises(UserError, match="unknown layer type"):
        Viewer(np.zeros((3, 6, 6)), kind="vectors")


# ---------------------------------------------------------------- multi-scale
def pyramid(shape=(4, 64, 64)):
    base = volume(shape, seed=5)
    return [base, base[:, ::2, ::2].copy(), base[:, ::4, ::4].copy()]


def test_a_pyramid_shows_the_coarse_level_first_then_the_fine_one():
    levels = pyramid()
    # The finest level is the slowest to read, as on a real link where bytes cost time.
    slow = [slow_store(level, latency=latency) for level, latency in zip(levels, (0.4, 0.1, 0.02))]
    shown = []
    with Viewer(slow, debounce_s=0, cache_bytes=0, max_workers=2) as viewer:
        viewer._slicer.layer_hooks.append(lambda name, piece: shown.append((piece.request.indices[0], piece.level)))
        assert viewer.wait_idle(10)
        viewer.set_index(0, 2)
        assert viewer.wait_idle(10)
        assert shown[-2:] == [(2, 2), (2, 0)]  # coarsest (level 2) first, then the finest
        np.testing.assert_array_equal(viewer.frame.data, levels[0][2])
        assert viewer.frame.rgba.shape[:2] == (64, 64)


def test_a_newer_move_cancels_the_older_pyramid_requests():
    levels = pyramid()
    slow = [slow_store(level, latency=0.3) for level in levels]
    with Viewer(slow, debounce_s=0, cache_bytes=0, max_workers=2) as viewer:
        assert viewer.wait_idle(10)
        before = store_stats(slow)
        viewer.set_index(0, 1)
        deadline = time.perf_counter() + 5
        while store_stats(slow)["reads"] < before["reads"] + 2 and time.perf_counter() < deadline:
            time.sleep(0.005)  # until both levels of this move are mid-read
        before = before["cancelled"]
        viewer.set_index(0, 3)
        assert viewer.wait_idle(10)
        assert store_stats(slow)["cancelled"] - before >= 2  # both levels of the first move stopped mid-read
        assert viewer.frame.indices[0] == 3 and viewer.frame.layer("image").level == 0


def test_tiles_of_the_finest_level_are_painted_as_they_arrive():
    levels = pyramid((3, 64, 64))
    slow = [slow_store(level, latency=0.02) for level in levels]
    shown = []
    with Viewer(slow, debounce_s=0, cache_bytes=0, tile_size=32, max_workers=1, contrast_limits=(0, 1)) as viewer:
        assert viewer.wait_idle(10)
        viewer._slicer.layer_hooks.append(lambda name, piece: shown.append((piece.level, piece.request.region)))
        viewer.set_index(0, 2)
        assert viewer.wait_idle(10)
        assert shown[0] == (2, None) and sorted(r for _, r in shown[1:]) == [
            ((0, 32), (0, 32)), ((0, 32), (32, 64)), ((32, 64), (0, 32)), ((32, 64), (32, 64))]
        tiled = viewer.frame.rgba.copy()
    with Viewer(levels[0], asynchronous=False, contrast_limits=(0, 1)) as whole:
        whole.set_index(0, 2)
        np.testing.assert_array_equal(tiled, whole.frame.rgba)  # all tiles in: the same picture
    with pytest.raises(UserError, match="tile_size"):
        Viewer(levels, tile_size=3)


def test_build_pyramid_writes_ome_zarr_04_and_the_viewer_reads_it(tmp_path):
    zarr = pytest.importorskip("zarr")
    data = volume((3, 128, 128))
    z = zarr.create_array(store=str(tmp_path / "raw.zarr"), shape=data.shape, chunks=(1, 64, 64), dtype="float32")
    z[:] = data
    group = build_pyramid(z, tmp_path / "pyr.zarr", min_size=32)
    meta = group.attrs["multiscales"][0]
    assert meta["version"] == "0.4" and [d["path"] for d in meta["datasets"]] == ["0", "1", "2"]
    assert meta["datasets"][2]["coordinateTransformations"][0]["scale"] == [1.0, 4.0, 4.0]
    np.testing.assert_allclose(group["1"][1], data[1].reshape(64, 2, 64, 2).mean(axis=(1, 3)), rtol=1e-6)
    assert group["2"].shape == (3, 32, 32)  # 16 would fall below min_size: no level 3
    with Viewer(str(tmp_path / "pyr.zarr"), debounce_s=0) as viewer:
        viewer.set_index(0, 2)
        assert viewer.wait_idle(10)
        np.testing.assert_array_equal(viewer.frame.data, data[2])
    labels = (data > 0.5).astype(np.int32)
    group = build_pyramid(labels, tmp_path / "lab.zarr", min_size=32, method="nearest")
    assert set(np.unique(group["2"][:])) <= {0, 1}
    with pytest.raises(UserError, match="multiscales"):
        Viewer(zarr.open_group(str(tmp_path / "empty.zarr"), mode="w"))


# ---------------------------------------------------------------- thick slices, labels, contrast, thumbnails
@pytest.mark.parametrize("projection, reduce", [("max", np.max), ("mean", np.mean), ("sum", np.sum)])
def test_thick_slices_project_the_planes_within_the_thickness(projection, reduce):
    data = volume((9, 8, 8))
    with Viewer(data, asynchronous=False, thickness=1.5, projection=projection) as viewer:
        viewer.set_index(0, 4)
        np.testing.assert_allclose(viewer.frame.data, reduce(data[3:6], axis=0), rtol=1e-6)
        viewer.set_index(0, 0)  # the slab is clipped at the edge
        np.testing.assert_allclose(viewer.frame.data, reduce(data[0:2], axis=0), rtol=1e-6)
        # The same thickness notion as points: a point 1.5 planes away is shown, 2 planes away is not.
        viewer.add_points([[1.5, 2, 2], [2.0, 5, 5]], thickness=1.5)
        assert viewer.frame.layer("points").point_ids.tolist() == [0]
    with pytest.raises(UserError, match="projection"):
        Viewer(data, projection="median")


def test_labels_are_coloured_by_value_with_transparent_background():
    labels = np.zeros((2, 6, 6), np.int32)
    labels[0, 1, 1], labels[0, 2, 2], labels[1, 1, 1] = 7, 8, 7
    colours = label_colors(np.array([7, 8]))
    assert not np.array_equal(colours[0], colours[1])
    with Viewer(np.full((2, 6, 6), 0.0), asynchronous=False, contrast_limits=(0, 1)) as viewer:
        viewer.add_labels(labels, opacity=1.0)
        assert tuple(viewer.frame.rgba[1, 1, :3]) == tuple(colours[0])
        assert tuple(viewer.frame.rgba[0, 0, :3]) == (0, 0, 0)
        viewer.set_index(0, 1)
        assert tuple(viewer.frame.rgba[1, 1, :3]) == tuple(colours[0])  # same label, same colour, any plane
    with pytest.raises(UserError, match="integer"):
        Viewer(np.zeros((2, 4, 4)), kind="labels")


def test_auto_contrast_is_off_by_default_and_refits_each_slice_when_on():
    data = np.stack([np.linspace(0, 1, 64), np.linspace(0, 10, 64)]).reshape(2, 8, 8).astype(np.float32)
    with Viewer(data, asynchronous=False) as viewer:
        viewer.set_index(0, 1)
        assert viewer.frame.layer("image").contrast_limits == (0.0, 1.0)  # fixed from the first plane
    with Viewer(data, asynchronous=False, auto_contrast=True) as viewer:
        viewer.set_index(0, 1)
        assert viewer.frame.layer("image").contrast_limits == (0.0, 10.0)


def test_every_layer_slice_carries_a_small_thumbnail():
    with Viewer(volume((3, 100, 60)), asynchronous=False) as viewer:
        thumb = viewer.layers["image"].thumbnail
        assert thumb.shape == (25, 15, 4) and thumb.dtype == np.uint8
        np.testing.assert_array_equal(thumb, viewer.frame.layer("image").rgba[::4, ::4])


# ---------------------------------------------------------------- data changes
def test_assigning_data_reslices_and_refresh_sees_in_place_edits():
    data = volume((4, 8, 8))
    with Viewer(data, debounce_s=0) as viewer:
        viewer.set_index(0, 2)
        assert viewer.wait_idle(5)
        layer = viewer.layers["image"]
        layer.data = data * 2
        assert viewer.wait_idle(5)
        np.testing.assert_array_equal(viewer.frame.data, data[2] * 2)
        held = layer.data.array
        held[2] = -1.0  # in place: invisible until refresh()
        viewer.set_index(0, 1)
        viewer.set_index(0, 2)
        assert viewer.wait_idle(5)
        np.testing.assert_array_equal(viewer.frame.data, data[2] * 2)  # served from the cache
        layer.refresh()
        assert viewer.wait_idle(5)
        assert (viewer.frame.data == -1.0).all()


def test_a_layer_whose_data_is_gone_cancels_its_work():
    data = volume((6, 8, 8))
    slow = slow_store(data, latency=0.5)
    alive = weakref.ref(slow)
    with Viewer(np.zeros((6, 8, 8)), debounce_s=0) as viewer:
        viewer.add_image(slow, name="remote")
        time.sleep(0.1)  # its first read is under way
        del slow
        viewer.remove_layer("remote")
        gc.collect()
        assert viewer.wait_idle(5)
        assert viewer.stats["cancelled"] >= 1 and viewer.layer_names == ("image",)
    gc.collect()
    assert alive() is None, "the viewer kept the removed layer's data alive"


# ---------------------------------------------------------------- the latency log on a full disk (issue 14)
class FullDisk:
    """A file whose writes fail with ENOSPC after ``ok`` of them."""

    def __init__(self, ok=2):
        self.ok = ok

    def write(self, text):
        if self.ok <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.ok -= 1

    def flush(self):
        pass

    def close(self):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_stops_the_latency_log_but_not_the_viewer(tmp_path):
    log = LatencyLog(tmp_path / "lat.jsonl", opener=lambda *a, **k: FullDisk(ok=2))
    for i in range(5):
        log.write({"request": i})
    assert not log.enabled and "No space left" in log.error and len(log.records) == 5
    log.close()
    viewer = Viewer(volume((40, 8, 8)), latency_log=tmp_path / "v.jsonl")
    viewer._slicer.log._file = FullDisk(ok=3)
    try:
        for i in range(1, 40):
            viewer.set_index(0, i)
            assert viewer.wait_idle(5)  # raised OSError here before the fix
        assert viewer.frame.indices[0] == 39 and "latency log stopped" in viewer.status()
        assert len(viewer.latency_records) >= 39
    finally:
        viewer.close()


def test_latency_log_on_a_real_full_tmpfs(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs was refused ({done.stderr.decode().strip() or done.returncode})")
    try:
        (mount / "filler").write_bytes(b"\0" * (60 * 1024))
        viewer = Viewer(volume((200, 8, 8)), latency_log=mount / "lat.jsonl")
        try:
            for i in range(1, 200):
                viewer.set_index(0, i)
                assert viewer.wait_idle(5)
            assert "No space left" in viewer.status() and viewer.frame.indices[0] == 199
        finally:
            viewer.close()
        records = read_latency_log(mount / "lat.jsonl")  # what made it to disk is readable
        assert all("outcome" in r for r in records)
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_paint_raster_leaves_pixels_outside_a_layer_alone():
    canvas = np.zeros((4, 4, 4), np.uint8)
    from workbench.slicing._layers import Geometry

    piece = LayerSlice(request=None, data=np.ones((2, 2)), data_to_world=Transform((1.0, 1.0), (0.0, 0.0)),
                       rgba=np.full((2, 2, 4), 255, np.uint8))
    paint_raster(piece, canvas, Geometry((0.0, 0.0), (1.0, 1.0), (4, 4)))
    assert canvas[:2, :2, :3].min() == 255 and canvas[2:, :, :3].max() == 0 and canvas[:, 2:, :3].max() == 0
