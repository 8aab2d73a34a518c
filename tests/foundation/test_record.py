import json
import math

import numpy as np
import pytest

import workbench
from workbench._record import _jsonable


def test_numpy_values_become_json():
    assert _jsonable("a", np.float32(1.5)) == 1.5
    assert _jsonable("b", np.arange(3)) == [0, 1, 2]
    assert json.dumps(_jsonable("c", {"k": [1, 2.5, "x"]}))


def test_non_finite_floats_are_kept_as_text():
    assert _jsonable("nan", math.nan) == "nan"
    assert _jsonable("inf", float("inf")) == "inf"


def test_unserializable_value_names_the_fix():
    with pytest.raises(TypeError, match=r"record\('obj'.*not JSON-serializable.*tolist"):
        workbench.record("obj", object())


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="non-empty string"):
        workbench.record(name, 1)


def test_record_outside_ipython_returns_the_value():
    assert workbench.record("x", np.int64(4)) == 4


def test_set_seed_makes_numpy_and_torch_repeat():
    import torch

    workbench.set_seed(7)
    a = (np.random.rand(3), torch.rand(3))
    workbench.set_seed(7)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])
