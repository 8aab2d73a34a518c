"""A feature lake on xarray + zarr: event keys, a registry of features and functions, atomic upserts with
a delta log, resolvers and a function router (in-process or dask), and point-in-time training frames.

>>> from workbench.lake import FeatureLake, EventKey            # doctest: +SKIP
>>> lake = FeatureLake.open("/tmp/lake")                        # doctest: +SKIP
"""

from workbench.lake._keys import WINDOWS, EventKey
from workbench.lake._lake import FeatureLake, RunReport, WriteReport
from workbench.lake._registry import (
    DTYPES,
    KINDS,
    FeatureSpec,
    FunctionSpec,
    HttpInvocation,
    Registry,
    check_feature_name,
    check_function_name,
)
from workbench.lake._store import LakeLockedError
from workbench.lake._validate import LakeValidationError

__all__ = [
    "DTYPES",
    "KINDS",
    "WINDOWS",
    "EventKey",
    "FeatureLake",
    "FeatureSpec",
    "FunctionSpec",
    "HttpInvocation",
    "LakeLockedError",
    "LakeValidationError",
    "Registry",
    "RunReport",
    "WriteReport",
    "check_feature_name",
    "check_function_name",
]
