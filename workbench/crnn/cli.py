"""``workbench crnn ...``: train the recognizer or transcribe line images from the command line."""

from __future__ import annotations


def _cmd_train(args) -> int:
    from workbench.crnn import train

    argv = ["--profile", args.profile, "--out", args.out]
    for flag, value in (("--model", args.model), ("--steps", args.max_steps), ("--max-minutes", args.max_minutes),
                        ("--batch-size", args.batch_size), ("--lr", args.lr), ("--eval-every", args.eval_every),
                        ("--val-size", args.val_size), ("--seed", args.seed), ("--threads", args.threads),
                        ("--device", args.device), ("--ship", args.ship)):
        if value is not None:
            argv += [flag, str(value)]
    if args.resume:
        argv.append("--resume")
    return train.main(argv)


def _cmd_recognize(args) -> int:
    from PIL import Image

    from workbench.crnn.recognizer import Recognizer

    rec = Recognizer.load(args.model)
    images = []
    for path in args.images:
        with Image.open(path) as im:
            images.append(im.convert("RGB"))
    lexicon = None
    if args.lexicon:
        with open(args.lexicon, encoding="utf-8") as fh:
            lexicon = [w.strip() for w in fh if w.strip()]
    for path, text in zip(args.images, rec.recognize(images, lexicon=lexicon, beam_width=args.beam_width)):
        print(f"{path}\t{text}")
    return 0


def add_train_arguments(p) -> None:
    """The training flags (kept here, free of torch imports, so ``workbench --help`` stays fast)."""
    p.add_argument("--profile", choices=("quick", "full"), default="quick", help="preset configuration")
    p.add_argument("--out", required=True, help="output folder (checkpoints, history, report)")
    p.add_argument("--model", help="model config name (tiny, small, paper)")
    p.add_argument("--steps", type=int, dest="max_steps", help="maximum optimizer steps")
    p.add_argument("--max-minutes", type=float, help="wall-clock budget; stops cleanly and reports")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--eval-every", type=int, help="validate (and checkpoint) every N steps")
    p.add_argument("--val-size", type=int, help="lines per validation set (seen and unseen fonts)")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch CPU threads (default 1: the machine is shared)")
    p.add_argument("--device", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--ship", help="also copy best.pt and the training report into this folder")


def register(subparsers) -> None:
    """Add the ``crnn`` command with ``train`` and ``recognize`` subcommands."""
    p = subparsers.add_parser("crnn", help="CRNN text-line recognizer: train, recognize")
    sub = p.add_subparsers(dest="crnn_command", required=True)
    t = sub.add_parser("train", help="train a CRNN on synthetic lines (same flags as python -m workbench.crnn.train)")
    add_train_arguments(t)
    t.set_defaults(func=_cmd_train)
    r = sub.add_parser("recognize", help="transcribe line images with a checkpoint (default: the shipped model)")
    r.add_argument("images", nargs="+", help="image files, one text line each")
    r.add_argument("--model", default=None, help="checkpoint path (default: datasets/models/crnn_small.pt)")
    r.add_argument("--lexicon", help="text file, one word per line, for lexicon-based decoding")
    r.add_argument("--beam-width", type=int, help="prefix beam search width (default: best path)")
    r.set_defaults(func=_cmd_recognize)
