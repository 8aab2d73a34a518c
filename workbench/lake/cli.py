"""``workbench lake check PATH [--repair]``: the lake's fsck (exit 0 clean, 1 repaired, 4 damage left)."""

from __future__ import annotations


def _cmd_check(args) -> int:
    from workbench.errors import UserError
    from workbench.lake._integrity import check
    from workbench.lake._store import LakeLockedError

    try:
        report = check(args.path, repair=args.repair)
    except LakeLockedError as exc:  # --repair needs the writer lock: a user can wait, not a bug
        raise UserError(str(exc)) from None
    for line in report.lines():
        print(line)
    return report.exit_code


def register(subparsers) -> None:
    """Add the ``lake`` command with its ``check`` subcommand."""
    p = subparsers.add_parser("lake", help="feature lake maintenance: check (and repair) a lake")
    sub = p.add_subparsers(dest="lake_command", required=True)
    c = sub.add_parser("check", help="verify commits, registry, chunk checksums and delta files "
                                     "(exit 0 clean, 1 repaired, 4 damage left)")
    c.add_argument("path", help="the lake folder (or fsspec URL)")
    c.add_argument("--repair", action="store_true",
                   help="roll back to the last good commit (newer commits go to quarantine/) and collect orphans")
    c.set_defaults(func=_cmd_check)
