"""A feature lake on xarray + zarr: event keys, a registry of features and functions, atomic upserts with
a delta log, resolvers and a function router (in-process or dask), point-in-time training frames, and an
integrity check (``workbench lake check``).

The public names load on first use, so ``workbench --help`` (which imports this package to find
``workbench.lake.cli``) does not pay for polars, zarr and xarray.

>>> from workbench.lake import FeatureLake, EventKey            # doctest: +SKIP
>>> lake = FeatureLake.open("/tmp/lake")                        # doctest: +SKIP
"""

from importlib import import_module

_EXPORTS = {
    "workbench.lake._keys": ("WINDOWS", "EventKey"),
    "workbench.lake._lake": ("FeatureLake", "RunReport", "WriteReport"),
    "workbench.lake._registry": ("DTYPES", "KINDS", "FeatureSpec", "FunctionSpec", "HttpInvocation", "Registry",
                                 "check_feature_name", "check_function_name"),
    "workbench.lake._store": ("LakeLockedError", "LakeIntegrityWarning"),
    "workbench.lake._validate": ("LakeValidationError",),
    "workbench.lake._errors": ("LakeIntegrityError", "LakeTimeRangeError"),
    "workbench.lake._integrity": ("CheckReport", "check"),
    "workbench.lake.pipeline": ("Pipeline", "Process", "ProcessError"),
    "workbench.lake.knowledge": ("KnowledgeRepository",),
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        # submodules (workbench.lake.demo, .plot, .cli) load through the import system
        raise AttributeError(f"module 'workbench.lake' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value
