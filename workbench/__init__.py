"""The research workbench: a thin package behind parameterized teaching notebooks.

Topic packages (``workbench.ctc``, ``workbench.crnn``, ``workbench.slicing``, ``workbench.lake``,
``workbench.graphs``, ``workbench.clinical``) are imported on demand; importing ``workbench`` itself
is cheap and needs no Jupyter.
"""

from workbench._record import RECORD_MIME, record, set_seed

__all__ = ["RECORD_MIME", "record", "set_seed"]
__version__ = "0.1.0"
