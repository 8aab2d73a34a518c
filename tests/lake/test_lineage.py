"""Lineage as a workbench.graphs model: features, functions, processes, knowledge attributes; closure queries."""

import datetime as dt

import polars as pl
import pytest

from workbench.errors import UserError
from workbench.graphs import LabelledGraph
from workbench.lake import FeatureLake
from workbench.lake.lineage import downstream, upstream
from workbench.lake.pipeline import Pipeline, Process

T0 = dt.datetime(2026, 1, 5)
SBP = "/health/feature/patient/sbp"
OVER = "/health/feature/patient/over"
ALERT = "/health/feature/patient/alert"
RULE = "/health/function/inference/alert_rule"


def alert_rule(inputs):
    return inputs.select("key", "time", (pl.col(OVER) > 0).alias(ALERT))


@pytest.fixture
def lake(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    kr = lake.knowledge
    kr.define_attribute("target", "float", "mmHg")
    kr.define_attribute("ward", "string")
    kr.create("p1", "patient", {"target": 130.0}, at=T0)
    pipe = Pipeline([
        Process("readings", "ingest", params={"entities": ["patient"], "columns": {"systolic": {"dtype": "float",
                                                                                               "unit": "mmHg"}}}),
        Process("daily", "reduce", ("readings",), {"every": "day", "aggregations": {"sbp": "max(systolic)"}}),
        Process("e", "enrich", ("daily",), {"entity": "patient", "attributes": ["target"]}),
        Process("over", "compute", ("e",), {"columns": {"over": {"expr": "sbp - target", "unit": "mmHg"}},
                                            "features": {"sbp": SBP, "over": OVER}}),
    ], domain="health", name="vitals")
    lake.register_feature(OVER, "float", "mmHg")
    lake.register_feature(ALERT, "bool")
    lake.register_function(RULE, alert_rule, [OVER], [ALERT], kind="RULE")
    result = lake.pipeline(pipe).run(readings=pl.DataFrame({
        "patient": ["p1", "p1"], "time": [T0, T0 + dt.timedelta(days=1)], "systolic": [140.0, 120.0]}))
    # the leaf's features triggered the registered rule through run_pending: day 0 closes at 140 > 130
    from workbench.lake import EventKey
    assert result.features["over"]["over"] == OVER
    assert lake.get(EventKey({"patient": "p1"}, window="day"), ALERT, window="day", at=T0 + dt.timedelta(days=1)) is True
    return lake


def test_lineage_is_a_labelled_graph_of_all_four_kinds(lake):
    g = lake.lineage()
    assert isinstance(g, LabelledGraph)
    assert g.nodes[SBP] == "feature" and g.nodes[RULE] == "function"
    assert g.nodes["process:vitals/daily"] == "process" and g.nodes["attribute:target"] == "attribute"
    assert g.nodes["attribute:ward"] == "attribute"  # defined, read by nothing yet
    assert {("process:vitals/readings", "feeds", "process:vitals/daily"),
            ("attribute:target", "enriches", "process:vitals/e"),
            ("process:vitals/over", "writes", OVER), (OVER, "input", RULE), (RULE, "output", ALERT)} <= set(g.edges)


def test_everything_downstream_of_an_attribute_reaches_the_function_outputs(lake):
    g = lake.lineage()
    assert downstream(g, "attribute:target") == {"process:vitals/e", "process:vitals/over", SBP, OVER, RULE, ALERT,
                                                 "/health/feature/patient/target"}  # the leaf writes it too
    assert downstream(g, ALERT) == set()
    assert "attribute:target" in upstream(g, ALERT) and "process:vitals/readings" in upstream(g, ALERT)
    assert downstream(g, "attribute:ward") == set()
    with pytest.raises(UserError, match="'nope' is not in the lineage"):
        downstream(g, "nope")


def test_lineage_survives_reopening_and_is_drawn_through_graphs(lake, tmp_path):
    again = FeatureLake.open(lake.url).lineage()
    assert again == lake.lineage()
    from workbench.graphs import draw

    fig = draw(again)
    assert fig is not None
    assert lake.check().findings == []


def test_lineage_nodes_carry_what_each_thing_is(lake):
    g = lake.lineage()
    assert g.properties[SBP] == {"dtype": "float", "unit": "mmHg", "window": None}
    assert g.properties[RULE]["kind"] == "RULE"
    assert g.properties["process:vitals/daily"] == {"type": "reduce", "pipeline": "vitals"}
    assert g.properties["attribute:target"] == {"dtype": "float", "unit": "mmHg"}


def test_draw_lineage_is_the_graphs_drawing_with_short_unique_names(tmp_path):
    """The lake has no drawing of its own any more: the picture is workbench.graphs.draw's."""
    import importlib.util

    from matplotlib.figure import Figure

    from workbench.lake import demo
    from workbench.lake.lineage import draw_lineage

    assert importlib.util.find_spec("workbench.lake.plot") is None  # the hand-drawn lineage is gone
    lake = FeatureLake.open(tmp_path / "telecom")
    demo.register_telecom(lake)
    fig = draw_lineage(lake, path=tmp_path / "lineage.svg")
    assert isinstance(fig, Figure) and (tmp_path / "lineage.svg").stat().st_size > 0
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    # the churn_score feature and the churn_score function keep distinct short names
    assert "churn_score\n:feature" in texts and "churn_score()\n:function" in texts
    assert fig.axes[0].get_title() == "lake lineage: 6 features, 2 functions"
    from workbench.lake.lineage import downstream
    g = lake.lineage()
    assert downstream(g, demo.DROPS) == {demo.CHURN_FN, demo.CHURN, demo.PRIORITY_FN, demo.PRIORITY}
