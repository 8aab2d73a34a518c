"""Pipelines: each process type against a plain polars reference, each validation error, and a lake run."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from workbench.errors import UserError
from workbench.lake import FeatureLake
from workbench.lake.knowledge import KnowledgeRepository
from workbench.lake.pipeline import Pipeline, Process, ProcessError

T0 = dt.datetime(2026, 1, 5)  # a Monday, so weeks start on the first day


def events(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "patient": rng.choice(["p1", "p2", "p3"], n).tolist(),
        "time": [T0 + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 16, n)],
        "systolic": rng.normal(125, 12, n).round(1),
        "kind": rng.choice(["rest", "exercise"], n).tolist(),
    })


INGEST = Process("readings", "ingest", params={
    "entities": ["patient"], "columns": {"systolic": {"dtype": "float", "unit": "mmHg"}, "kind": "string"}})


def run(*steps, frame=None, knowledge=None):
    pipe = Pipeline([INGEST, *steps])
    return pipe.evaluate({"readings": events() if frame is None else frame}, knowledge=knowledge)


def sort(f):
    return f.sort(f.columns[:2])


@pytest.mark.parametrize("how", ["sum", "mean", "min", "max", "count", "last"])
@pytest.mark.parametrize("every", ["hour", "day", "week"])
def test_reduce_matches_group_by(how, every):
    out = run(Process("r", "reduce", ("readings",), {"every": every, "aggregations": {"v": f"{how}(systolic)"}}))["r"]
    step = {"hour": "1h", "day": "1d", "week": "1w"}[every]
    e = events().sort("time")
    agg = {"sum": pl.col("systolic").sum(), "mean": pl.col("systolic").mean(), "min": pl.col("systolic").min(),
           "max": pl.col("systolic").max(), "count": pl.col("systolic").count(), "last": pl.col("systolic").last()}
    ref = (e.with_columns((pl.col("time").dt.truncate(step).dt.offset_by(step)).alias("time"))
           .group_by("patient", "time").agg(agg[how].alias("v")))
    assert sort(out).equals(sort(ref.with_columns(pl.col("time").cast(pl.Datetime("ns"))).select(out.columns)))


def test_reduce_labels_a_window_by_its_end_so_it_is_known_only_when_closed():
    frame = pl.DataFrame({"patient": ["p1"], "time": [T0 + dt.timedelta(hours=3, minutes=10)], "systolic": [120.0],
                          "kind": ["rest"]})
    out = run(Process("r", "reduce", ("readings",), {"every": "day", "aggregations": {"v": "max(systolic)"}}),
              frame=frame)["r"]
    assert out["time"].to_list() == [T0 + dt.timedelta(days=1)]


def test_hour_day_week_chain_of_sums_and_maxima_equals_direct_week():
    chain = run(Process("h", "reduce", ("readings",), {"every": "hour", "aggregations": {"s": "sum(systolic)",
                                                                                          "m": "max(systolic)"}}),
                Process("d", "reduce", ("h",), {"every": "day", "aggregations": {"s": "sum(s)", "m": "max(m)"}}),
                Process("w", "reduce", ("d",), {"every": "week", "aggregations": {"s": "sum(s)", "m": "max(m)"}}))
    direct = run(Process("w", "reduce", ("readings",), {"every": "week", "aggregations": {"s": "sum(systolic)",
                                                                                          "m": "max(systolic)"}}))
    a, b = sort(chain["w"]), sort(direct["w"])
    assert a.select("patient", "time", "m").equals(b.select("patient", "time", "m"))
    assert np.allclose(a["s"].to_numpy(), b["s"].to_numpy())


def test_filter_matches_polars_filter_with_sql_text_and_expression():
    by_text = run(Process("f", "filter", ("readings",), {"where": "systolic > 130 AND kind = 'rest'"}))["f"]
    by_expr = run(Process("f", "filter", ("readings",), {"where": (pl.col("systolic") > 130) & (pl.col("kind") == "rest")}))["f"]
    ref = events().filter((pl.col("systolic") > 130) & (pl.col("kind") == "rest"))
    assert by_text.equals(by_expr) and by_text.height == ref.height > 0
    assert by_text["systolic"].to_list() == ref["systolic"].to_list()


def test_pivot_matches_polars_pivot():
    out = run(Process("p", "pivot", ("readings",), {"on": "kind", "values": "systolic", "how": "max",
                                                     "columns": ["rest", "exercise"]}))["p"]
    ref = events().pivot(on="kind", index=["patient", "time"], values="systolic", aggregate_function="max")
    assert sort(out.select("patient", "time", "rest", "exercise")).equals(
        sort(ref.with_columns(pl.col("time").cast(pl.Datetime("ns"))).select("patient", "time", "rest", "exercise")))


def test_pivot_refuses_values_it_was_not_told_about_instead_of_dropping_them():
    with pytest.raises(ProcessError, match=r"process 'p'.*\['rest'\] not in columns"):
        run(Process("p", "pivot", ("readings",), {"on": "kind", "values": "systolic", "columns": ["exercise"]}))


def test_quantize_matches_searchsorted_and_keeps_nulls():
    frame = events().with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("systolic"))
                                  .alias("systolic"))
    edges = [110.0, 125.0, 140.0]
    out = run(Process("q", "quantize", ("readings",), {"column": "systolic", "edges": edges}), frame=frame)["q"]
    x = frame["systolic"].to_numpy()
    ref = [None if np.isnan(v) else int(np.searchsorted(edges, v, side="left")) for v in x]
    assert out["systolic_bin"].to_list() == ref
    assert out["systolic_bin"].null_count() == 1


def test_compute_matches_with_columns():
    out = run(Process("c", "compute", ("readings",), {"columns": {
        "kpa": {"expr": "systolic * 0.133322", "dtype": "float", "unit": "kPa"},
        "high": {"expr": pl.col("systolic") > 140, "dtype": "bool"}}}))["c"]
    ref = events().with_columns((pl.col("systolic") * 0.133322).alias("kpa"), (pl.col("systolic") > 140).alias("high"))
    assert np.allclose(out["kpa"].to_numpy(), ref["kpa"].to_numpy())
    assert out["high"].to_list() == ref["high"].to_list()


def test_ingest_casts_and_names_missing_columns():
    with pytest.raises(ProcessError, match=r"process 'readings' \(ingest\): input has no column\(s\) \['kind'\]"):
        run(frame=events().drop("kind"))


# ---- validation -----------------------------------------------------------------------------------------
def test_unknown_input_is_named():
    with pytest.raises(ProcessError, match=r"process 'r' reads 'raw', which is not a process"):
        Pipeline([INGEST, Process("r", "filter", ("raw",), {"where": "systolic > 1"})]).validate()


def test_cycle_is_named():
    pipe = Pipeline([INGEST, Process("a", "compute", ("b",), {"columns": {"x": "systolic"}}),
                     Process("b", "filter", ("a",), {"where": "x > 1"})])
    with pytest.raises(ProcessError, match=r"on a cycle (a -> b -> a|b -> a -> b)"):
        pipe.validate()


def test_dtype_mismatch_is_found_before_any_data():
    pipe = Pipeline([INGEST, Process("r", "reduce", ("readings",), {"every": "day", "aggregations": {"v": "mean(kind)"}})])
    with pytest.raises(ProcessError, match=r"process 'r' \(reduce\): mean\(kind\) needs a number"):
        pipe.validate()
    pipe = Pipeline([INGEST, Process("c", "compute", ("readings",), {"columns": {"x": {"expr": "kind", "dtype": "float"}}})])
    with pytest.raises(ProcessError, match=r"process 'c' \(compute\): column 'x' is String, declared float"):
        pipe.validate()
    pipe = Pipeline([INGEST, Process("q", "quantize", ("readings",), {"column": "kind", "edges": [1]})])
    with pytest.raises(ProcessError, match=r"process 'q' \(quantize\): quantize needs a numeric column"):
        pipe.validate()


def test_bad_parameters_are_named():
    for step, match in [
        (Process("r", "reduce", ("readings",), {"every": "fortnight", "aggregations": {"v": "sum(systolic)"}}), "every="),
        (Process("r", "reduce", ("readings",), {"every": "day", "aggregations": {"v": "median(systolic)"}}), "median"),
        (Process("q", "quantize", ("readings",), {"column": "systolic", "edges": [3, 1]}), "strictly increasing"),
        (Process("x", "transmogrify", ("readings",), {}), "not one of"),
        (Process("f", "filter", ("readings",), {}), r"needs parameter\(s\) \['where'\]"),
    ]:
        with pytest.raises(ProcessError, match=rf"process '{step.name}'.*{match}"):
            Pipeline([INGEST, step]).validate()
    assert issubclass(ProcessError, UserError)


def test_yaml_declares_the_same_pipeline_and_it_prints():
    text = """
domain: health
processes:
  - {name: readings, type: ingest, entities: [patient], columns: {systolic: {dtype: float, unit: mmHg}, kind: string}}
  - {name: hourly, type: reduce, input: readings, every: hour, aggregations: {sbp: mean(systolic)}}
  - {name: daily, type: reduce, input: hourly, every: day, aggregations: {sbp_max: max(sbp), hours: count(sbp)}}
"""
    pipe = Pipeline.from_yaml(text)
    py = Pipeline([INGEST, Process("hourly", "reduce", ("readings",), {"every": "hour", "aggregations": {"sbp": "mean(systolic)"}}),
                   Process("daily", "reduce", ("hourly",), {"every": "day", "aggregations": {"sbp_max": "max(sbp)",
                                                                                          "hours": "count(sbp)"}})])
    assert pipe.evaluate({"readings": events()})["daily"].equals(py.evaluate({"readings": events()})["daily"])
    text = str(pipe)
    assert "daily [reduce, day] <- hourly" in text
    assert "sbp_max: float [mmHg]" in text and "hours: int" in text
    assert "=> feature /health/feature/patient/sbp_max" in text
    g = pipe.to_labelled()
    assert ("hourly", "feeds", "daily") in g.edges and g.nodes["daily"] == "reduce"


# ---- enrich ---------------------------------------------------------------------------------------------
def test_enrich_reads_attributes_as_of_each_event_and_never_later():
    kr = KnowledgeRepository()
    kr.define_attribute("target_sbp", "float", "mmHg")
    kr.create("p1", "patient", {"target_sbp": 140.0}, at=T0)
    kr.update("p1", {"target_sbp": 130.0}, at=T0 + dt.timedelta(days=3))
    frame = pl.DataFrame({"patient": ["p1", "p1", "p1", "p2"],
                          "time": [T0 - dt.timedelta(hours=1), T0 + dt.timedelta(days=2, hours=23),
                                   T0 + dt.timedelta(days=3), T0 + dt.timedelta(days=5)],
                          "systolic": [120.0, 121.0, 122.0, 123.0], "kind": ["rest"] * 4})
    out = run(Process("e", "enrich", ("readings",), {"entity": "patient", "attributes": ["target_sbp"]}),
              frame=frame, knowledge=kr)["e"]
    # before creation: unknown; the day before the update: the old value (the PIT-leak check); at it: the new one
    assert out["target_sbp"].to_list() == [None, 140.0, 130.0, None]
    assert out["systolic"].to_list() == frame["systolic"].to_list()  # row order kept
    checked = Pipeline([INGEST, Process("e", "enrich", ("readings",), {"entity": "patient",
                                                                        "attributes": ["target_sbp"]})]).validate(knowledge=kr)
    assert checked["e"].units["target_sbp"] == "mmHg"


def test_enrich_names_an_unknown_attribute():
    kr = KnowledgeRepository()
    with pytest.raises(ProcessError, match=r"process 'e' \(enrich\): knowledge attribute\(s\) \['tariff'\]"):
        run(Process("e", "enrich", ("readings",), {"entity": "patient", "attributes": ["tariff"]}), knowledge=kr)


# ---- on a lake ------------------------------------------------------------------------------------------
def _daily_pipeline():
    return Pipeline([INGEST,
                     Process("hourly", "reduce", ("readings",), {"every": "hour", "aggregations": {"sbp": "mean(systolic)"}}),
                     Process("daily", "reduce", ("hourly",), {"every": "day", "aggregations": {"sbp_max": "max(sbp)"}})],
                    domain="health")


def test_run_registers_leaf_outputs_as_features_and_writes_them(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    bound = lake.pipeline(_daily_pipeline())
    result = bound.run(readings=events())
    feat = "/health/feature/patient/sbp_max"
    # the leaf's outputs, and the hour roll-up the day roll-up is recomputed from on later runs
    assert result.features == {"daily": {"sbp_max": feat}, "hourly": {"sbp": "/health/feature/patient/hourly_sbp"}}
    spec = lake.registry.feature(feat)
    assert (spec.dtype, spec.unit) == ("float", "mmHg")
    daily = result.frames["daily"]
    row = daily.row(0, named=True)
    from workbench.lake import EventKey
    assert lake.get(EventKey({"patient": row["patient"]}, window="day"), feat, window="day",
                    at=row["time"]) == pytest.approx(row["sbp_max"])
    assert bound.run(readings=events()).writes["daily"].values_changed == 0  # idempotent re-run


def test_leaf_unit_mismatch_with_a_registered_feature_is_named(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    lake.register_feature("/health/feature/patient/sbp_max", "float", "kPa")
    with pytest.raises(ProcessError, match=r"process 'daily' output 'sbp_max'.*registered in \[kPa\].*\[mmHg\]"):
        lake.pipeline(_daily_pipeline())
    lake2 = FeatureLake.open(tmp_path / "lake2")
    lake2.register_feature("/health/feature/patient/sbp_max", "int", "mmHg")
    with pytest.raises(ProcessError, match=r"registered as int, the pipeline makes float"):
        lake2.pipeline(_daily_pipeline())


def _double(inputs):
    return inputs.select("key", "time", (pl.col("/health/feature/patient/sbp") * 2).alias("/health/feature/patient/sbp2"))


def test_function_process_calls_the_registered_function_and_checks_units(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    lake.register_feature("/health/feature/patient/sbp", "float", "mmHg")
    lake.register_feature("/health/feature/patient/sbp2", "float", "mmHg")
    lake.register_function("/health/function/inference/double", _double, ["/health/feature/patient/sbp"],
                           ["/health/feature/patient/sbp2"], kind="RULE")
    pipe = Pipeline([INGEST, Process("f", "function", ("readings",), {
        "function": "/health/function/inference/double", "inputs": {"/health/feature/patient/sbp": "systolic"}})],
        domain="health")
    frames = lake.pipeline(pipe).evaluate(readings=events())
    assert frames["f"]["/health/feature/patient/sbp2"].to_list() == (events()["systolic"] * 2).to_list()
    kpa = Pipeline([INGEST, Process("k", "compute", ("readings",), {"columns": {"p": {"expr": "systolic * 0.1333",
                                                                                      "unit": "kPa"}}}),
                    Process("f", "function", ("k",), {"function": "/health/function/inference/double",
                                                       "inputs": {"/health/feature/patient/sbp": "p"}})])
    with pytest.raises(ProcessError, match=r"process 'f' \(function\): column 'p' is in \[kPa\].*\[mmHg\]"):
        lake.pipeline(kpa)
    unknown = Pipeline([INGEST, Process("f", "function", ("readings",), {"function": "/health/function/inference/nope",
                                                                         "inputs": {}})])
    with pytest.raises(ProcessError, match=r"function '/health/function/inference/nope' is not registered"):
        lake.pipeline(unknown)


def test_enrich_on_a_lake_writes_features_from_attributes_known_at_each_window(tmp_path):
    lake = FeatureLake.open(tmp_path / "lake")
    kr = lake.knowledge
    kr.define_attribute("target_sbp", "float", "mmHg")
    kr.create("p1", "patient", {"target_sbp": 140.0}, at=T0)
    pipe = Pipeline([INGEST,
                     Process("daily", "reduce", ("readings",), {"every": "day", "aggregations": {"sbp": "max(systolic)"}}),
                     Process("e", "enrich", ("daily",), {"entity": "patient", "attributes": ["target_sbp"]}),
                     Process("over", "compute", ("e",), {"columns": {"over_target": {"expr": "sbp - target_sbp",
                                                                                    "unit": "mmHg"}}})],
                    domain="health")
    bound = lake.pipeline(pipe)
    # recorded after binding, effective from day 3: windows closing before then must keep the old target
    lake.knowledge.update("p1", {"target_sbp": 120.0}, at=T0 + dt.timedelta(days=3))
    frame = pl.DataFrame({"patient": ["p1"] * 4, "time": [T0 + dt.timedelta(days=d, hours=8) for d in range(4)],
                          "systolic": [150.0, 150.0, 150.0, 150.0], "kind": ["rest"] * 4})
    out = bound.run(readings=frame).frames["over"].sort("time")
    # day d closes at T0 + (d+1) days: days 0 and 1 close before the update, day 2 closes at it
    assert out["over_target"].to_list() == [10.0, 10.0, 30.0, 30.0]
    assert lake.registry.feature("/health/feature/patient/target_sbp").unit == "mmHg"


def test_fitted_edges_are_stored_in_the_spec_and_reused_on_new_data():
    from workbench.lake._processes import fit_edges

    edges = fit_edges(events()["systolic"], 4)
    ref = np.quantile(events()["systolic"].to_numpy(), [0.25, 0.5, 0.75])
    assert np.allclose(edges, ref)
    step = Process("q", "quantize", ("readings",), {"column": "systolic", "edges": edges})
    later = run(step, frame=events(seed=1))["q"]  # new data: the same stored edges, not refitted ones
    assert later["systolic_bin"].to_list() == np.searchsorted(edges, events(seed=1)["systolic"].to_numpy()).tolist()


def test_the_pipeline_is_drawn_through_workbench_graphs():
    from workbench.graphs import draw
    from workbench.lake import Pipeline as Exported

    assert Exported is Pipeline
    pipe = _daily_pipeline()
    assert draw(pipe.to_labelled()) is not None
