"""The exercise checks accept right answers and name the mistake in typical wrong ones."""

import numpy as np

from workbench.ctc import best_path_decode, collapse
from workbench.ctc.exercises import check_alpha_step, check_best_path, check_collapse


def blanks_first(path, blank):
    kept = [k for k in path if k != blank]
    return [k for i, k in enumerate(kept) if i == 0 or kept[i - 1] != k]


def test_check_collapse(capsys):
    assert check_collapse(collapse)
    assert not check_collapse(blanks_first)
    assert "removed the blanks before merging" in capsys.readouterr().out
    assert not check_collapse(lambda path, blank: [k for k in path if k != blank])
    assert "did not merge repeated labels" in capsys.readouterr().out
    assert not check_collapse(lambda path, blank: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def good_step(prev, log_probs_t, ext, blank):
    cur = prev.copy()
    cur[1:] = np.logaddexp(cur[1:], prev[:-1])
    allowed = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    cur[2:] = np.where(allowed, np.logaddexp(cur[2:], prev[:-2]), cur[2:])
    return cur + log_probs_t[ext]


def test_check_alpha_step(capsys):
    assert check_alpha_step(good_step)
    assert not check_alpha_step(lambda p, y, e, b: good_step(p, y, e, b) - y[e])
    assert "forgot to add log y" in capsys.readouterr().out

    def always_skip(prev, y, ext, blank):
        cur = prev.copy()
        cur[1:] = np.logaddexp(cur[1:], prev[:-1])
        cur[2:] = np.logaddexp(cur[2:], prev[:-2])
        return cur + y[ext]

    assert not check_alpha_step(always_skip)
    assert "only allowed onto a label" in capsys.readouterr().out


def test_check_best_path(capsys):
    assert check_best_path(best_path_decode)
    assert not check_best_path(lambda lp, blank: np.argmax(lp, axis=1).tolist())
    assert "returned the best path itself" in capsys.readouterr().out
    assert not check_best_path(lambda lp, blank: collapse(np.argmax(lp, axis=0), blank))
    assert "axis 0" in capsys.readouterr().out
