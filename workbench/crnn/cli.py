"""``workbench crnn ...``: train the recognizer or transcribe line images from the command line."""

from __future__ import annotations


def _cmd_train(args) -> int:
    from workbench.crnn import train

    argv = ["--profile", args.profile, "--out", args.out]
    for flag, value in (("--model", args.model), ("--steps", args.max_steps), ("--max-minutes", args.max_minutes),
                        ("--batch-size", args.batch_size), ("--lr", args.lr), ("--eval-every", args.eval_every),
                        ("--val-size", args.val_size), ("--seed", args.seed), ("--threads", args.threads),
                        ("--device", args.device), ("--ship", args.ship), ("--init", args.init),
                        ("--font-set", args.font_set)):
        if value is not None:
            argv += [flag, str(value)]
    if args.resume:
        argv.append("--resume")
    return train.main(argv)


def _open_image(path):
    """A file as an RGB PIL image, or a one-line UserError naming the file and the fix."""
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    from workbench.errors import UserError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"image: no file at {path}; check the path (one image file per argument)")
    try:
        with Image.open(p) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UserError(f"image: {path} is not an image Pillow can read ({type(err).__name__}); pass a PNG, "
                        "JPEG, TIFF or BMP file") from None


def _read_lexicon(path) -> list[str]:
    from workbench.errors import UserError

    try:
        with open(path, encoding="utf-8") as fh:
            words = [w.strip() for w in fh if w.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"--lexicon: cannot read {path} ({type(err).__name__}); pass a UTF-8 text file, "
                        "one word per line") from None
    if not words:
        raise UserError(f"--lexicon: {path} holds no words; pass a text file with one word per line")
    return words


def _dictionary(args, rec):
    """The Dictionary the flags ask for, or None: explicit --dictionary, else the system list by default."""
    from workbench.crnn._dictionary import SYSTEM_WORDS
    from workbench.errors import UserError

    if args.no_dictionary:
        return None
    if args.dictionary:
        if args.lexicon or args.beam_width is not None:
            raise UserError("--dictionary: it cannot be combined with --lexicon or --beam-width; pick one decoding")
        return rec.system_dictionary(args.dictionary)
    if args.lexicon or args.beam_width is not None or not SYSTEM_WORDS.exists():
        return None
    return rec.system_dictionary()


def _cmd_recognize(args) -> int:
    import sys

    from workbench.crnn._data import to_grayscale
    from workbench.crnn._page import segment_lines
    from workbench.crnn.recognizer import Recognizer
    from workbench.errors import UserError

    if args.beam_width is not None and args.beam_width < 1:
        raise UserError(f"--beam-width: expected a positive width, got {args.beam_width}")
    if args.threads < 1:
        raise UserError(f"--threads: expected a positive number of threads, got {args.threads}")
    images = [_open_image(path) for path in args.images]  # every file checked before the model loads
    import torch

    torch.set_num_threads(args.threads)
    rec = Recognizer.load(args.model)
    lexicon = _read_lexicon(args.lexicon) if args.lexicon else None
    kw = dict(lexicon=lexicon, beam_width=args.beam_width, dictionary=_dictionary(args, rec), views=not args.one_view)
    for path, image in zip(args.images, images):
        boxes, _ = segment_lines(to_grayscale(image))
        if args.mode == "line":
            if len(boxes) > 1:
                print(f"warning: {path} looks like {len(boxes)} text lines but --mode line reads it as one; "
                      "drop --mode line to read it line by line", file=sys.stderr)
            lines = rec.read_lines([image], **kw)
        else:
            lines = rec.read_page(image, **kw)
        for line in lines:
            print(f"{path}\t{line.text}" + (f"\t{line.confidence:.3f}" if args.confidence else ""))
    return 0


def _positive(kind):
    """An argparse type: a number > 0 of ``kind``, refused in one line naming the value otherwise."""
    import argparse

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__} > 0, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def add_train_arguments(p) -> None:
    """The training flags (kept here, free of torch imports, so ``workbench --help`` stays fast)."""
    p.add_argument("--profile", choices=("quick", "full"), default="quick", help="preset configuration")
    p.add_argument("--out", required=True, help="output folder (checkpoints, history, report)")
    p.add_argument("--model", help="model config name (tiny, small, paper)")
    p.add_argument("--steps", type=_positive(int), dest="max_steps", help="maximum optimizer steps")
    p.add_argument("--max-minutes", type=_positive(float),
                   help="wall-clock budget: stops early (resumable); never changes the step schedule")
    p.add_argument("--batch-size", type=_positive(int))
    p.add_argument("--lr", type=_positive(float), help="peak learning rate of the step-based one-cycle schedule")
    p.add_argument("--eval-every", type=_positive(int), help="validate (and checkpoint) every N steps")
    p.add_argument("--val-size", type=_positive(int), help="lines per validation set (seen and unseen fonts)")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=_positive(int), help="torch CPU threads (default 1: the machine is shared)")
    p.add_argument("--device", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--init", help="warm start: copy matching weights from this checkpoint")
    p.add_argument("--font-set", choices=("matplotlib", "debian"), help="font families to train on")
    p.add_argument("--ship", help="also copy best.pt and the training report into this folder")


def register(subparsers) -> None:
    """Add the ``crnn`` command with ``train`` and ``recognize`` subcommands."""
    p = subparsers.add_parser("crnn", help="CRNN text-line recognizer: train, recognize")
    sub = p.add_subparsers(dest="crnn_command", required=True)
    t = sub.add_parser("train", help="train a CRNN on synthetic lines (same flags as python -m workbench.crnn.train)")
    add_train_arguments(t)
    t.set_defaults(func=_cmd_train)
    r = sub.add_parser("recognize", help="transcribe images of text lines or paragraphs (one output line per text line)")
    r.add_argument("images", nargs="+", help="image files: single lines, paragraphs or pages")
    r.add_argument("--model", default=None, help="checkpoint path (default: datasets/models/crnn_printed.pt)")
    r.add_argument("--mode", choices=("page", "line"), default="page",
                   help="page (default): find the text lines first; line: read each image as one line "
                        "(warns when an image looks multi-line)")
    r.add_argument("--confidence", action="store_true", help="add a third column: P(line exactly right)")
    r.add_argument("--lexicon", help="text file, one word per line: lexicon-based decoding, word by word")
    r.add_argument("--beam-width", type=int, help="prefix beam search width (default: best path)")
    r.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: a page of lines needs no more, and on a busy machine "
                        "more threads wait on each other)")
    d = r.add_mutually_exclusive_group()
    d.add_argument("--dictionary", metavar="WORDS",
                   help="word list for correcting unknown words (default: /usr/share/dict/american-english when "
                        "installed and neither --lexicon nor --beam-width is given)")
    d.add_argument("--no-dictionary", action="store_true", help="read without dictionary correction")
    r.add_argument("--one-view", action="store_true",
                   help="read each line once (5x faster) instead of voting over five views of it (three widths, "
                        "smaller glyphs)")
    r.set_defaults(func=_cmd_recognize)
