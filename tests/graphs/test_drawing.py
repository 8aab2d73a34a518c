"""draw(): every model renders to PNG and SVG, deterministically, in the literature's visual language."""

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.patches import Ellipse, FancyArrowPatch, PathPatch, Polygon, Rectangle

from workbench.graphs import draw
from workbench.graphs.generators import graph_database
from workbench.graphs import examples as E


@pytest.mark.parametrize("name", list(E.all_examples()))
def test_every_model_draws_png_and_svg(name, tmp_path):
    model = E.all_examples()[name]
    if name not in ("good", "groovy", "ggl"):  # keep the suite fast: SVG for a few models only
        draw(model, path=tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 2000
        return
    for suffix in (".png", ".svg"):
        path = tmp_path / f"{name}{suffix}"
        draw(model, path=path)
        assert path.stat().st_size > 2000
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_svg_is_reproducible(tmp_path):
    draw(E.good_example(), path=tmp_path / "a.svg")
    draw(E.good_example(), path=tmp_path / "b.svg")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_visual_language():
    good = draw(E.good_example()).axes[0]
    squares = [p for p in good.patches if isinstance(p, Rectangle)]
    circles = [p for p in good.patches if isinstance(p, Ellipse)]
    g = E.good_example()
    assert len(squares) == len(g.nodes) - len(g.values) and len(circles) == len(g.values)
    arrows = [p for p in good.patches if isinstance(p, FancyArrowPatch)]
    n_multi = sum(1 for _, lab, _ in g.edges if lab in g.multivalued)
    assert len(arrows) == len(g.edges) + n_multi  # a second head on every multivalued edge

    gdm = draw(E.gdm_example()).axes[0]
    hollow = [p for p in gdm.patches if isinstance(p, FancyArrowPatch) and p.get_facecolor()[:3] == (1.0, 1.0, 1.0)]
    assert len(hollow) == len(E.gdm_example().isa)
    assert any(isinstance(p, Polygon) for p in gdm.patches)  # the composite-value diamond

    hyper = draw(E.groovy_example()).axes[0]
    assert sum(isinstance(p, PathPatch) for p in hyper.patches) == len(E.groovy_example().hyperedges)


def test_networkx_graph_and_errors(tmp_path):
    draw(graph_database(1, seed=0)[0], path=tmp_path / "mol.png")
    with pytest.raises(ValueError, match="must end in .png or .svg"):
        draw(E.oem_example(), path=tmp_path / "x.jpg")
    with pytest.raises(TypeError, match="model must be one of"):
        draw({"a": 1})
