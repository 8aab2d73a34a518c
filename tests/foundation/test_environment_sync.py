"""environment.yml (conda users) must list exactly what pyproject.toml declares."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _normalized(requirements):
    out = {}
    for text in requirements:
        req = Requirement(text)
        out[req.name.lower().replace("_", "-").replace(".", "-")] = (sorted(req.extras), req.specifier)
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


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("dev", "bench"):
        declared += project["optional-dependencies"][extra]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [r for r in pip_section if not r.startswith("-")]
    want, got = _normalized(declared), _normalized(listed)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    differ = sorted(n for n in set(want) & set(got) if not _agrees(want[n], got[n]))
    assert not (missing or extra or differ), (
        f"environment.yml drifted from pyproject.toml: missing {missing}, not in pyproject {extra}, "
        f"different versions/extras {[(n, str(want[n][1]), str(got[n][1])) for n in differ]}. Copy the requirement strings over."
    )


def test_environment_pins_python_and_torch_first():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    # The CPU torch pin must come before anything that depends on torch, as in the Makefile.
    assert pip_section[0] == "torch==2.13.0"
