"""Put a notebook back as it was: the committed version, or a fresh student copy.

Nothing is lost: the current file is first copied to ``reports/backups/`` (git-ignored) under a timestamped
name, and the path is returned so the caller can say where it went.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

from workbench.errors import UserError


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)


def _repo_of(path: Path) -> Path | None:
    found = _git(path.parent, "rev-parse", "--show-toplevel")
    return Path(found.stdout.decode().strip()) if found.returncode == 0 else None


def _backup(path: Path, backups: Path) -> Path:
    backups.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = backups / f"{path.stem}-{stamp}{path.suffix}"
    shutil.copy2(path, target)
    return target


def reset(notebook: str | Path, *, backups: str | Path | None = None) -> tuple[Path, Path | None]:
    """Restore ``notebook``; returns ``(restored path, backup path or None if nothing needed saving)``.

    A tracked notebook gets its committed (HEAD) content. A student copy made by ``workbench assign`` (it
    records the source notebook's name) outside any repository gets a fresh student copy of the source.
    """
    import nbformat

    path = Path(notebook)
    if not path.is_file():
        raise UserError(f"reset: {path} does not exist; give the path of a notebook (.ipynb)")
    path = path.resolve()
    repo = _repo_of(path)
    committed: bytes | None = None
    if repo is not None:
        rel = path.relative_to(repo).as_posix()
        shown = _git(repo, "show", f"HEAD:{rel}")
        if shown.returncode == 0:
            committed = shown.stdout
    if committed is None:
        committed = _fresh_student_copy(path)
    backup_dir = Path(backups) if backups else ((repo or path.parent) / "reports" / "backups")
    if path.read_bytes() == committed:
        return path, None
    saved = _backup(path, backup_dir)
    tmp = path.with_name(f".{path.name}.reset-tmp")
    tmp.write_bytes(committed)
    tmp.replace(path)  # atomic: the notebook is either the old or the restored one, never half
    nbformat.read(path, as_version=4)  # prove what we wrote is a notebook
    return path, saved


def _fresh_student_copy(path: Path) -> bytes:
    import nbformat

    from workbench import runner
    from workbench.teaching._assign import student_copy

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise UserError(f"reset: {path} is not a readable notebook ({type(exc).__name__}) and is not tracked by "
                        "git; nothing to restore it from") from None
    if "assignment" not in nb.metadata.get("workbench", {}):
        raise UserError(f"reset: {path.name} is neither committed in a git repository nor a student copy made by "
                        "`workbench assign`; there is no saved state to restore")
    source = runner.NOTEBOOKS_DIR / path.name
    if not source.is_file():
        raise UserError(f"reset: the source notebook {source} of this student copy is missing; reassign it")
    return nbformat.writes(student_copy(nbformat.read(source, as_version=4))).encode() + b"\n"
