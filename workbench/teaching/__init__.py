"""Set, take and grade the notebooks' exercises: student copies, headless grading, reset.

``assign`` writes student copies (solutions stubbed, outputs cleared, checks kept); ``grade`` executes
submissions and tabulates each check's verdict; ``reset`` restores a notebook's saved state. The cell tags
and the check convention are described in :mod:`workbench.teaching._assign` and :mod:`workbench.exercises`.
"""

from workbench.teaching._assign import assign, exercise_names, exercise_subset, student_copy, stub_source
from workbench.teaching._grade import Score, format_scores, grade, grade_notebook
from workbench.teaching._reset import reset

__all__ = ["Score", "assign", "exercise_names", "exercise_subset", "format_scores", "grade", "grade_notebook", "reset",
           "student_copy", "stub_source"]
