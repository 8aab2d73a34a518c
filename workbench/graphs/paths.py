"""Where a notebook's relative output paths land, found from the package rather than the current directory.

A notebook may be opened from anywhere (JupyterLab in a home directory, papermill with another cwd). A
relative path is read against the project checkout this package was imported from, when there is one, and
against the current directory otherwise (an installed package has no checkout to write into).
"""

from __future__ import annotations

from pathlib import Path

import workbench
from workbench.errors import UserError


def project_root() -> Path | None:
    """The checkout that holds the imported ``workbench`` package (the folder with its pyproject.toml)."""
    here = Path(workbench.__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else None


def output_path(path: str | Path) -> Path:
    """``path`` made absolute (see the module docstring) and created as a directory."""
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise UserError(f"output_dir must be a non-empty path, got {path!r}; pass e.g. output_dir='reports/graphs'")
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (project_root() or Path.cwd()) / p
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"output_dir {str(p)!r} cannot be created ({exc.strerror}); pass a writable folder") from None
    return p
