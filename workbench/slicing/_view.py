"""The widget view: ipywidgets sliders, the frame, controls and a per-layer status line; the static picture.

It only reads the model and the slicer's frame, and calls back into the viewer's public verbs; it never
slices. Building it is lazy (``viewer.widget``), so headless scripts never import ipywidgets.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import numpy as np

COLORMAPS = ("gray", "viridis", "magma", "inferno", "cividis", "twilight")


def _thumbnail_uri(thumbnail: np.ndarray | None) -> str:
    if thumbnail is None or thumbnail.size == 0:
        return ""
    from workbench.slicing._compute import encode_frame

    return "data:image/png;base64," + base64.b64encode(encode_frame(np.ascontiguousarray(thumbnail), "png")).decode()


class WidgetView:
    """The ipywidgets UI of a viewer (see the module docstring)."""

    def __init__(self, viewer: Any) -> None:
        import ipywidgets as widgets

        self.viewer = viewer
        self.model = viewer._model
        self.controls: dict[str, Any] = {}
        image = widgets.Image(format=viewer.encoding, layout=widgets.Layout(max_width="640px"))
        status = widgets.HTML()
        self.controls.update(image=image, status=status)
        sliders = widgets.VBox(self._slider_rows())
        self.controls["sliders"] = sliders
        rows: list[Any] = []
        first = self._first_gray_image()
        if first is not None:
            colormap = widgets.Dropdown(
                options=list(COLORMAPS), value=first.colormap if first.colormap in COLORMAPS else "gray",
                description="colormap", layout=widgets.Layout(width="220px"))
            colormap.observe(lambda c: viewer.set_colormap(c["new"]), names="value")
            lo, hi = first.contrast_limits or (0.0, 1.0)
            contrast = widgets.FloatRangeSlider(
                value=(lo, hi), min=lo, max=hi, step=(hi - lo) / 200 or 1.0, description="contrast",
                continuous_update=False, layout=widgets.Layout(width="360px"))
            contrast.observe(
                lambda c: viewer.set_contrast_limits(*c["new"]) if c["new"][1] > c["new"][0] else None, names="value")
            self.controls.update(colormap=colormap, contrast=contrast)
            rows = [widgets.HBox([colormap, contrast])]
        self.root = widgets.VBox([sliders, image, *rows, status])

    def _first_gray_image(self) -> Any:
        for state in self.model.states:
            if state.kind == "image" and not state.rgb:
                return state
        return None

    def _slider_rows(self) -> list[Any]:
        import ipywidgets as widgets

        rows = []
        shape = self.model.shape
        for axis in self.model.sliders:
            index = self.model.indices[axis]
            slider = widgets.IntSlider(value=index, min=0, max=shape[axis] - 1, description=self.model.dims[axis],
                                       continuous_update=True, layout=widgets.Layout(width="360px"))
            play = widgets.Play(value=index, min=0, max=shape[axis] - 1, interval=100)
            widgets.jslink((play, "value"), (slider, "value"))
            label = widgets.Label(self.model.label(axis))
            slider.observe(lambda change, a=axis: self._on_slider(a, change), names="value")
            self.controls.update({f"slider{axis}": slider, f"play{axis}": play, f"label{axis}": label})
            rows.append(widgets.HBox([play, slider, label]))
        return rows

    def _on_slider(self, axis: int, change: dict) -> None:
        if self.viewer._closed or change["new"] == self.model.indices[axis]:
            return
        self.viewer.set_index(axis, int(change["new"]))

    def rebuild_sliders(self) -> None:
        for key in [k for k in self.controls if k.startswith(("slider", "play", "label")) and k != "sliders"]:
            self.controls.pop(key).close()
        self.controls["sliders"].children = self._slider_rows()

    def sync_slider(self, axis: int) -> None:
        slider = self.controls.get(f"slider{axis}")
        if slider is not None and slider.value != self.model.indices[axis]:
            slider.value = self.model.indices[axis]
        label = self.controls.get(f"label{axis}")
        if label is not None:
            label.value = self.model.label(axis)

    def sync_contrast(self) -> None:
        control = self.controls.get("contrast")
        first = self._first_gray_image()
        if control is not None and first is not None and first.contrast_limits is not None:
            lo, hi = first.contrast_limits
            control.min, control.max = min(control.min, lo), max(control.max, hi)
            control.value = (lo, hi)

    def show(self, frame: Any) -> None:
        from workbench.slicing._compute import encode_frame

        self.controls["image"].value = frame.encoded or encode_frame(frame.rgba, self.viewer.encoding)
        self.update_status()

    def update_status(self) -> None:
        loading = self.viewer._slicer.loading()
        badges = []
        for name in self.model.layers:
            busy = loading.get(name, False)
            track = self.viewer._slicer.tracks.get(name)
            pieces = track.pieces if track is not None else []
            thumb = _thumbnail_uri(pieces[0].thumbnail if pieces else None)
            image = f"<img src='{thumb}' style='height:16px;vertical-align:middle;margin-right:3px'>" if thumb else ""
            shown = pieces[-1] if pieces else None  # the newest part painted (a tile, or the whole plane)
            where = (f"data-level='{shown.level}' data-indices='{','.join(map(str, shown.request.indices))}' "
                     if shown is not None else "")
            badges.append(
                f"<span class='slicing-layer' data-layer='{html.escape(name)}' data-loading='{str(busy).lower()}' {where}"
                f"style='padding:1px 6px;border-radius:8px;margin-right:4px;"
                f"background:{'#ffe08a' if busy else '#c8f0c8'}'>{image}{'&#8987; ' if busy else ''}"
                f"{html.escape(name)}</span>")
        viewer = self.viewer
        error = f" <span style='color:#b00020'>{html.escape(viewer._status_error)}</span>" if viewer._status_error else ""
        latency = f" last latency {viewer._slicer.last_latency * 1e3:.0f} ms" if viewer._slicer.last_latency else ""
        state = "loading" if any(loading.values()) else "ready"
        self.controls["status"].value = f"<div class='slicing-status'><b>{state}</b> {''.join(badges)}{latency}{error}</div>"

    def close(self) -> None:
        self.root.close()
        for control in self.controls.values():
            if hasattr(control, "close"):
                control.close()


def render_static(viewer: Any, ax: Any = None, *, title: bool = True) -> Any:
    """Draw the current frame with matplotlib in world units (for papermill reports); returns the Figure."""
    import matplotlib.pyplot as plt

    frame = viewer.frame
    if frame is None:
        raise RuntimeError("render_static: nothing displayed yet; call viewer.wait_idle() first")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    else:
        fig = ax.figure
    ax.imshow(frame.rgba, extent=frame.extent, interpolation="nearest")
    model = viewer._model
    rows, cols = frame.displayed
    ax.set_ylabel(model.dims[rows])
    ax.set_xlabel(model.dims[cols])
    if title:
        where = ", ".join(model.label(d) for d in model.sliders)
        ax.set_title(where or "2-D view", fontsize=10)
    return fig
