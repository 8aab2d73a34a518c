"""environment.yml (conda users) must list exactly what pyproject.toml declares, from conda-forge or pip."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
# conda-forge packages that stand for a pip requirement with extras (the conda package brings what they add).
CONDA_STANDS_FOR = {"dask": ["array", "distributed"]}
CONDA_ONLY = {"python", "pip"}


def _name(text: str) -> str:
    return text.lower().replace("_", "-").replace(".", "-")


def _normalized(requirements, conda: bool = False):
    out = {}
    for text in requirements:
        req = Requirement(text)
        extras = sorted(req.extras) or (CONDA_STANDS_FOR.get(_name(req.name), []) if conda else [])
        out[_name(req.name)] = (sorted(extras), req.specifier)
    return out


def _agrees(declared, listed) -> bool:
    """Same extras, and the same range, or an exact pin (==X) that the declared range admits."""
    (extras_d, spec_d), (extras_l, spec_l) = declared, listed
    if extras_d != extras_l:
        return False
    if str(spec_d) == str(spec_l):
        return True
    pins = [s for s in spec_l if s.operator == "=="]
    return len(pins) == 1 and len(spec_l) == 1 and spec_d.contains(pins[0].version, prereleases=True)


def _sections():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str) and d.split("=")[0] not in CONDA_ONLY]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return env, conda, [r for r in pip if not r.startswith("-")]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("dev", "bench"):
        declared += project["optional-dependencies"][extra]
    _, conda, pip = _sections()
    from_conda, from_pip = _normalized(conda, conda=True), _normalized(pip)
    twice = sorted(set(from_conda) & set(from_pip))
    assert not twice, f"environment.yml lists {twice} both from conda-forge and from pip; keep one"
    want, got = _normalized(declared), {**from_conda, **from_pip}
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    differ = sorted(n for n in set(want) & set(got) if not _agrees(want[n], got[n]))
    assert not (missing or extra or differ), (
        f"environment.yml drifted from pyproject.toml: missing {missing}, not in pyproject {extra}, "
        f"different versions/extras {[(n, str(want[n][1]), str(got[n][1])) for n in differ]}. Copy the requirement strings over."
    )


def test_conda_forge_supplies_the_scientific_stack():
    """Conda users get the compiled stack from conda-forge, not wheels through pip."""
    _, conda, _ = _sections()
    names = {_name(Requirement(r).name) for r in conda}
    assert {"numpy", "scipy", "polars", "pyarrow", "xarray", "zarr", "dask", "jupyterlab", "matplotlib"} <= names
    assert all("[" not in r for r in conda), "conda specs have no pip extras; see CONDA_STANDS_FOR"


def test_environment_pins_python_and_torch_first():
    env, _, pip = _sections()
    assert "python=3.11" in env["dependencies"]
    # The CPU torch pin must come before anything pip installs that depends on torch, as in the Makefile.
    assert pip[0] == "torch==2.13.0"
