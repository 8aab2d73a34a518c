"""Check functions for the exercises of notebook 05: each says what is wrong, not just "wrong"."""

from workbench.graphs.closure import check_closure_answer

__all__ = ["check_closure_answer"]
