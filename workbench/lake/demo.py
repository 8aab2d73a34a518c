"""A small telecom lake for the notebook, tests and benchmark: customers with daily call experience
(mean call duration, dropped calls, noise), a churn-score function reading them and a retention-priority
function reading the churn score.

The functions are module-level so dask workers (and new processes) can import them by name.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import polars as pl

DOMAIN = "telecom"
CALLS = "/telecom/feature/customer/calls"
DURATION = "/telecom/feature/customer/call_duration"
DROPS = "/telecom/feature/customer/dropped_calls"
NOISE = "/telecom/feature/customer/noise"
CHURN = "/telecom/feature/customer/churn_score"
PRIORITY = "/telecom/feature/customer/retention_priority"
CHURN_FN = "/telecom/function/inference/churn_score"
PRIORITY_FN = "/telecom/function/interpretation/retention_priority"

FEATURES = [
    (CALLS, "int", "1", "calls placed during the day"),
    (DURATION, "float", "s", "mean call duration during the day"),
    (DROPS, "int", "1", "calls dropped by the network during the day"),
    (NOISE, "float", "dB", "mean uplink noise level during the day"),
    (CHURN, "float", "1", "probability-like churn score in [0, 1]"),
    (PRIORITY, "categorical", None, "retention action: none, call, offer"),
]


def churn_score(inputs: pl.DataFrame) -> pl.DataFrame:
    """A logistic score: dropped-call rate and noise push churn up, long calls (engagement) pull it down.

    The weights are illustrative, not fitted: the lesson is the data flow, not the model.
    """
    drop_rate = pl.col(DROPS).cast(pl.Float64) / pl.max_horizontal(pl.col(CALLS).cast(pl.Float64), pl.lit(1.0))
    z = (-2.0 + 6.0 * drop_rate + 0.08 * (pl.col(NOISE) + 95.0) - 0.004 * pl.col(DURATION))
    return inputs.select("key", "time", (1.0 / (1.0 + (-z).exp())).round(6).alias(CHURN))


def retention_priority(inputs: pl.DataFrame) -> pl.DataFrame:
    """A rule on the churn score: above 0.7 call the customer, above 0.5 make an offer, else nothing."""
    return inputs.select(
        "key", "time",
        pl.when(pl.col(CHURN) > 0.7).then(pl.lit("call"))
        .when(pl.col(CHURN) > 0.5).then(pl.lit("offer"))
        .when(pl.col(CHURN).is_not_null()).then(pl.lit("none"))
        .otherwise(None).alias(PRIORITY),
    )


def register_telecom(lake) -> None:
    """Register the telecom features and both functions on ``lake``."""
    for name, dtype, unit, desc in FEATURES:
        cats = ("none", "offer", "call") if dtype == "categorical" else None
        lake.register_feature(name, dtype, unit=unit, description=desc, categories=cats)
    lake.register_function(CHURN_FN, churn_score, inputs=[CALLS, DURATION, DROPS, NOISE], outputs=[CHURN],
                           kind="ML", description="logistic churn score from daily call experience",
                           ttl="1d")  # a day-old input is still today's news; older ones are stale
    lake.register_function(PRIORITY_FN, retention_priority, inputs=[CHURN], outputs=[PRIORITY],
                           kind="INTERPRETATION", description="rule turning the churn score into an action")


def telecom_days(n_customers: int, n_days: int, seed: int = 0, start=_dt.datetime(2026, 1, 1),
                 missing: float = 0.1) -> pl.DataFrame:
    """Daily call-experience rows (wide layout): customer, time (end of day), calls, duration, drops,
    noise.  Each customer skips a day with probability ``missing``; a few customers have a bad cell
    (more drops and noise) so the churn score has something to find."""
    rng = np.random.default_rng(seed)
    cust = np.repeat(np.arange(n_customers), n_days)
    day = np.tile(np.arange(n_days), n_customers)
    keep = rng.random(cust.size) >= missing
    cust, day = cust[keep], day[keep]
    bad = rng.random(n_customers) < 0.2
    calls = rng.poisson(6, cust.size) + 1
    drop_p = np.where(bad[cust], 0.25, 0.03)
    drops = rng.binomial(calls, drop_p)
    noise = np.round(rng.normal(np.where(bad[cust], -80.0, -95.0), 3.0), 2)
    duration = np.round(rng.gamma(4.0, 45.0, cust.size), 1)
    end_of_day = np.datetime64(start, "ns") + (day + 1).astype("timedelta64[D]")
    return pl.DataFrame({
        "customer": [f"c{c:05d}" for c in cust],
        "time": pl.Series(end_of_day).cast(pl.Datetime("ns")),
        CALLS: calls.astype(np.int64),
        DURATION: duration,
        DROPS: drops.astype(np.int64),
        NOISE: noise,
    })


def telecom_churn(n_customers: int, n_days: int, seed: int = 0, start=_dt.datetime(2026, 1, 1),
                  missing: float = 0.1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Daily rows plus churn labels, built so that the future is *informative*: a customer who churns
    stops calling from the churn day on (calls, drops and duration 0, no noise measurement).

    Returns ``(days, labels)``; ``labels`` has one row per customer: ``customer``, ``event_time`` (the
    prediction moment: the start of the churn day for churners, a random day for the others) and
    ``churned``.  A join that ignores ``event_time`` sees the post-churn zeros and looks clairvoyant.
    """
    rng = np.random.default_rng(seed + 1)
    days = telecom_days(n_customers, n_days, seed=seed, start=start, missing=missing)
    # bad-cell customers (high noise) churn more often: that is what an honest model can learn
    noise_by_customer = days.group_by("customer").agg(pl.col(NOISE).mean()).sort("customer")
    p_churn = np.where(noise_by_customer[NOISE].to_numpy() > -88.0, 0.6, 0.15)
    churned = rng.random(len(p_churn)) < p_churn
    churn_day = rng.integers(n_days // 3, max(n_days // 3 + 1, n_days - 1), len(p_churn))
    other_day = rng.integers(n_days // 3, max(n_days // 3 + 1, n_days - 1), len(p_churn))
    event_day = np.where(churned, churn_day, other_day)
    start64 = np.datetime64(start, "ns")
    labels = pl.DataFrame({
        "customer": noise_by_customer["customer"],
        # the start of the event day = the end of the day before: everything known at that moment
        "event_time": pl.Series(start64 + event_day.astype("timedelta64[D]")).cast(pl.Datetime("ns")),
        "churned": churned,
    })
    after = (pl.col("time") > pl.col("event_time")) & pl.col("churned")
    days = (days.join(labels, on="customer")
            .with_columns(
                pl.when(after).then(0).otherwise(pl.col(CALLS)).alias(CALLS),
                pl.when(after).then(0).otherwise(pl.col(DROPS)).alias(DROPS),
                pl.when(after).then(0.0).otherwise(pl.col(DURATION)).alias(DURATION),
                pl.when(after).then(None).otherwise(pl.col(NOISE)).alias(NOISE))
            .drop("event_time", "churned"))
    return days, labels
