"""A feature lake on xarray + zarr: event keys, a registry of features and functions, atomic upserts with
a delta log, resolvers and a function router (in-process or dask), point-in-time training frames, media
features (text, image, audio, video payloads by SHA-256 or URI), interpretation functions run at ingestion
(the CRNN over image features), and an integrity check (``workbench lake check``).

The public names load on first use, so ``workbench --help`` (which imports this package to find
``workbench.lake.cli``) does not pay for polars, zarr and xarray.

>>> from workbench.lake import FeatureLake, EventKey            # doctest: +SKIP
>>> lake = FeatureLake.open("/tmp/lake")                        # doctest: +SKIP
"""

from workbench._lazy import lazy_exports

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
    "workbench.lake.media": ("MEDIA",),
    "workbench.lake.interpretation": ("TEXT_LINE", "register_text_line"),
}  # fmt: skip
# Submodules (workbench.lake.demo, .lineage, .bp_log, .interpretation, .cli) load through the import system, not through __getattr__.
__all__, __getattr__, _dir = lazy_exports("workbench.lake", _EXPORTS, globals())
del _dir
