import numpy as np

from workbench.clinical import average_real_variability
from workbench.clinical.exercises import check_arv


def test_reference_is_correct():
    assert check_arv(average_real_variability) == "correct"


def test_each_common_mistake_is_named():
    def unweighted(v, t):
        return float(np.mean(np.abs(np.diff(v.to_numpy()))))

    def divides_by_n(v, t):
        return float(np.sum(np.abs(np.diff(v.to_numpy()))) / len(v))

    def unsorted(v, t):
        w = np.diff(t.to_numpy()).astype(float)
        return float((w * np.abs(np.diff(v.to_numpy()))).sum() / w.sum())

    assert check_arv(unweighted).startswith("time weights ignored")
    assert check_arv(divides_by_n).startswith("divides by N")
    assert check_arv(unsorted).startswith("not sorted by time")
    assert check_arv(lambda v, t: 0.0).startswith("wrong even with equal gaps")
