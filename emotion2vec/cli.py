"""The ``emotion2vec`` command line: a thin front over package functions.

Each subcommand parses its arguments and calls one function of the
package; errors the user can fix (a missing, damaged or refused file
included) are printed as one line, ``emotion2vec CMD: error: ...``, with
exit status 2 and no traceback.

No subcommand runs code from the files it reads (see
:mod:`emotion2vec.safe_load`); ``convert --trust-checkpoint`` is the one
opt-in to full unpickling, for a checkpoint whose source you trust.

Authors
 * emotion2vec-sb contributors
"""

import argparse
import logging
import sys
from typing import Any, Dict, List, Optional, Sequence

SUBCOMMANDS = {}


def subcommand(name: str, help_text: str, configure):
    """Registers ``func(args) -> int`` as a subcommand.

    Arguments
    ---------
    name : str
        Subcommand name.
    help_text : str
        One-line help.
    configure : callable
        ``configure(parser)`` adds the subcommand's arguments.

    Returns
    -------
    callable
        Decorator.
    """

    def register(func):
        SUBCOMMANDS[name] = (func, help_text, configure)
        return func

    return register


def _configure_convert(p):
    p.add_argument(
        "src",
        help="released checkpoint (file or hub folder), model folder, or "
        "pre-training results dir",
    )
    p.add_argument("out_dir", help="folder to write")
    p.add_argument(
        "--to", choices=["folder", "funasr"], default="folder",
        help="folder: our model folder (default); funasr: the official "
        "FunASR / ModelScope layout (config.yaml + model.pt)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument(
        "--trust-checkpoint", action="store_true",
        help="if the safe load refuses the checkpoint (it names a Python object "
        "outside the data-only allow-list), load it with full unpickling, which "
        "RUNS ANY CODE IN THE FILE: only for files whose source you trust",
    )


@subcommand(
    "convert", "convert a checkpoint into a model folder or the FunASR layout",
    _configure_convert,
)
def run_convert(args) -> int:
    """Runs ``emotion2vec convert``."""
    from emotion2vec.pretrain.export import convert

    out = convert(
        args.src, args.out_dir, to=args.to, overwrite=args.overwrite,
        trust=args.trust_checkpoint,
    )
    print(f"wrote {out}")
    return 0


def _configure_extract(p):
    p.add_argument("inputs", nargs="+", metavar="AUDIO_OR_DIR")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--out", required=True, help="output folder for .npy files")
    p.add_argument("--granularity", choices=["frame", "utterance"], default="utterance")
    p.add_argument("--layer", type=int, default=None,
                   help="block index (prenet first; -1 = last, the default features)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-seconds", type=float, default=160.0,
                   help="padded audio per batch, seconds")
    p.add_argument("--window", type=float, default=30.0,
                   help="files longer than this (s) are encoded in windows")
    p.add_argument("--context", type=float, default=5.0,
                   help="context (s) on each side of a window")
    p.add_argument("--overwrite", action="store_true", help="recompute existing outputs")
    p.add_argument("--no-progress", action="store_true")


@subcommand(
    "extract", "extract features of audio files into .npy files", _configure_extract
)
def run_extract(args) -> int:
    """Runs ``emotion2vec extract``."""
    from emotion2vec.inference.extract import extract_files
    from emotion2vec.model_folder import load_model

    model = load_model(args.model, device=args.device)
    report = extract_files(
        model, args.inputs, args.out, granularity=args.granularity,
        layer=args.layer, batch_seconds=args.batch_seconds,
        window_s=args.window, context_s=args.context,
        overwrite=args.overwrite, progress=not args.no_progress,
    )
    for path, reason in report.failed:
        print(f"skipped: {reason}", file=sys.stderr)
    print(
        f"{len(report.written)} written, {len(report.skipped_done)} already done, "
        f"{len(report.failed)} failed -> {args.out}"
    )
    return 0 if report.ok else 1


def _configure_classify(p):
    p.add_argument("inputs", nargs="+", metavar="AUDIO_OR_DIR")
    p.add_argument("--model", required=True, help="model folder (with a head)")
    p.add_argument("--json", action="store_true",
                   help="JSON lines with every probability (and windows)")
    p.add_argument("--window", type=float, default=None,
                   help="classify every file in windows of this many seconds")
    p.add_argument("--hop", type=float, default=None,
                   help="seconds between window starts (default: --window)")
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="longer files are classified in windows of this length")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-seconds", type=float, default=160.0,
                   help="padded audio per batch, seconds")
    p.add_argument("--official-labels", action="store_true",
                   help="print official label strings (e.g. 生气/angry)")
    p.add_argument("--no-progress", action="store_true")


@subcommand(
    "classify", "print the emotion of audio files (path, label, score)", _configure_classify
)
def run_classify(args) -> int:
    """Runs ``emotion2vec classify``."""
    import json

    from emotion2vec.inference.classify import classify_files
    from emotion2vec.inference.classifier import Emotion2vecClassifier

    classifier = Emotion2vecClassifier.from_hparams(
        source=args.model, run_opts={"device": args.device},
        label_style="official" if args.official_labels else "english",
    )

    def emit(result):
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
        else:
            print(result.to_line(), flush=True)

    report = classify_files(
        classifier, args.inputs, batch_seconds=args.batch_seconds,
        max_seconds=args.max_seconds, window_s=args.window, hop_s=args.hop,
        progress=not args.no_progress, on_result=emit,
    )
    for path, reason in report.failed:
        print(f"skipped: {reason}", file=sys.stderr)
    if not report.ok:
        print("emotion2vec classify: no file could be classified", file=sys.stderr)
    return 0 if report.ok else 1


def _configure_export_onnx(p):
    p.add_argument("model_dir", help="model folder")
    p.add_argument("out", help="ONNX file to write")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--no-verify", action="store_true",
                   help="skip the onnxruntime comparison with PyTorch")


@subcommand(
    "export-onnx", "export the encoder (and head) of a model folder to ONNX",
    _configure_export_onnx,
)
def run_export_onnx(args) -> int:
    """Runs ``emotion2vec export-onnx``."""
    from emotion2vec.inference.onnx import export_onnx, verify_onnx
    from emotion2vec.model_folder import load_model

    model = load_model(args.model_dir)
    try:
        out = export_onnx(model, args.out, opset=args.opset)
        print(f"wrote {out}")
        if not args.no_verify:
            error = verify_onnx(model, out)
            print(f"onnxruntime vs PyTorch: max abs difference {error:.2e}")
    except ImportError as error:
        print(f"emotion2vec export-onnx: error: {error}", file=sys.stderr)
        return 2
    return 0


def _configure_prepare(p):
    from emotion2vec.corpora import CORPORA

    p.add_argument("corpus", help=f"corpus name ({', '.join(sorted(CORPORA))})")
    p.add_argument("src_dir", help="the corpus as downloaded and extracted")
    p.add_argument("out_dir", help="output folder for OUT_DIR/<corpus>.csv")
    p.add_argument(
        "--option", "-o", action="append", default=[], metavar="KEY=VALUE",
        help="a preparation option of the corpus, repeatable; VALUE is read as YAML "
        "(e.g. --option decode_audio=true, --option form=csv, "
        "--option 'emotions=[happy, sad]'); an unknown KEY lists the corpus's options",
    )


def parse_options(pairs: Sequence[str]) -> Dict[str, Any]:
    """``KEY=VALUE`` strings -> options, each VALUE read as YAML.

    Arguments
    ---------
    pairs : sequence of str
        ``KEY=VALUE`` items (``KEY=`` gives None).

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        An item without ``=``, a key that is not an identifier or given
        twice, or a value that is not valid YAML.

    Example
    -------
    >>> parse_options(["decode_audio=true", "form=csv", "emotions=[happy, sad]", "k=10"])
    {'decode_audio': True, 'form': 'csv', 'emotions': ['happy', 'sad'], 'k': 10}
    >>> parse_options(["decode_audio"])
    Traceback (most recent call last):
    ...
    ValueError: --option expects KEY=VALUE, got 'decode_audio'
    """
    import yaml

    options: Dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        if not key.isidentifier():
            raise ValueError(f"--option {pair!r}: {key!r} is not an option name")
        if key in options:
            raise ValueError(f"--option {key} is given twice")
        try:
            options[key] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            detail = " ".join(str(error).split())
            raise ValueError(f"--option {key}: {text!r} is not a YAML value ({detail})") from None
    return options


@subcommand(
    "prepare", "write a corpus manifest CSV (OUT_DIR/<corpus>.csv)", _configure_prepare
)
def run_prepare(args) -> int:
    """Runs ``emotion2vec prepare`` (``--option KEY=VALUE`` passes corpus options)."""
    from emotion2vec.corpora import prepare_corpus

    out = prepare_corpus(args.corpus, args.src_dir, args.out_dir, **parse_options(args.option))
    print(f"wrote {out}")
    return 0


def _configure_export(p):
    p.add_argument("results_dir",
                   help="a recipe's output folder (downstream: run.json; fine-tuning: finetune.json)")
    p.add_argument("out_dir", help="classifier folder to write")
    p.add_argument("--fold", default=None,
                   help="fold whose head to export (default: best validation WA)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    p.add_argument("--no-verify", action="store_true",
                   help="skip loading the folder back with Emotion2vecClassifier")


@subcommand(
    "export", "write a trained head and its (fine-tuned) upstream into one classifier folder",
    _configure_export,
)
def run_export(args) -> int:
    """Runs ``emotion2vec export`` (a downstream run, or a fine-tuning run:
    its ``finetune.json``)."""
    from emotion2vec.downstream.export import ExportError, export_downstream
    from emotion2vec.finetune.export import export_finetuned, is_finetune_results

    if is_finetune_results(args.results_dir):
        if args.fold is not None:
            raise ExportError(f"{args.results_dir} is a fine-tuning run (one split): no --fold")
        out = export_finetuned(
            args.results_dir, args.out_dir, overwrite=args.overwrite, verify=not args.no_verify
        )
    else:
        out = export_downstream(
            args.results_dir, args.out_dir, fold=args.fold, overwrite=args.overwrite,
            verify=not args.no_verify,
        )
    print(f"wrote {out}")
    return 0


def error_line(command: str, error: BaseException) -> str:
    """The one line printed for an error the user can fix.

    Arguments
    ---------
    command : str
        The subcommand.
    error : BaseException
        The error.

    Returns
    -------
    str

    Example
    -------
    >>> error_line("convert", ValueError("x.pt: empty file" + chr(10) + "(0 bytes)"))
    'emotion2vec convert: error: x.pt: empty file (0 bytes)'
    """
    text = " ".join(str(error).split()) or type(error).__name__
    return f"emotion2vec {command}: error: {text}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="emotion2vec",
        description="emotion2vec: speech emotion representation (SpeechBrain recipes)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    subs = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text, configure) in SUBCOMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        configure(sub)
        sub.set_defaults(func=func)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``emotion2vec`` console script.

    Arguments
    ---------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except (ValueError, OSError) as error:  # CheckpointError, ModelFolderError, ...
        print(error_line(args.command, error), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
