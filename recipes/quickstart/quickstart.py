"""The offline quickstart's stages: the whole emotion2vec method in minutes.

Stages (each reused when its output exists, so a re-run is cheap):

1. ``corpus``    synthesise a small acted-emotion corpus in RAVDESS's layout
                 (``emotion2vec.corpora.synthetic``), or take the user's
                 ``corpus_folder`` (any corpus in RAVDESS's layout);
2. ``prepare``   read it back through the real RAVDESS preparation;
3. ``pretrain``  pre-train a tiny emotion2vec on it with the real pre-training
                 recipe (``recipes/pretrain/train.py``) and export the student;
4. ``probe``     probe three frozen upstreams with the real downstream recipe
                 (``recipes/RAVDESS/emotion_recognition/train.py``) under
                 leave-one-speaker-out cross-validation: the pre-trained
                 model, the same architecture randomly initialised, and
                 log-mel filterbanks;
5. ``report``    the WA / UA / WF1 table and the paired per-fold gain of
                 pre-training over random init (``results.md``);
6. ``classify``  export a classifier folder (pre-trained upstream + head)
                 and run ``emotion2vec classify`` on a few files.

The recipes run as subprocesses, exactly as a user runs them, from the
user's working directory; every path handed to them is absolute.

Authors
 * emotion2vec-sb contributors
"""

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import torch

#: The recipes folder this quickstart belongs to (recipes/quickstart/..).
RECIPES = Path(__file__).resolve().parents[1]

#: Upstreams probed, in table order: (name, description).
UPSTREAMS = (
    ("pretrained", "emotion2vec (tiny), pre-trained here"),
    ("random_init", "same architecture, random init"),
    ("fbank", "log-mel filterbanks (no SSL)"),
)


class QuickstartError(RuntimeError):
    """A quickstart stage failed (the message names it and its log)."""


def _say(text: str):
    print(text, flush=True)


def resolve_path(path: Optional[str]) -> Optional[Path]:
    """A user path, relative to the current directory, made absolute.

    Arguments
    ---------
    path : str or None
        As given on the command line or in the hparams.

    Returns
    -------
    Path or None

    Example
    -------
    >>> resolve_path("results/x") == Path.cwd() / "results" / "x"
    True
    >>> resolve_path(None) is None
    True
    """
    if path is None or str(path).strip().lower() in ("", "null", "none"):
        return None
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def override_args(overrides: Mapping[str, Any]) -> List[str]:
    """``--key=value`` command-line overrides (values as YAML flow / JSON).

    Arguments
    ---------
    overrides : mapping
        Recipe keys and their values.

    Returns
    -------
    list of str

    Example
    -------
    >>> override_args({"lr": 0.01, "head": {"type": "linear"}, "feature": "utt"})
    ['--lr=0.01', '--head={"type": "linear"}', '--feature="utt"']
    """
    return [f"--{key}={json.dumps(value)}" for key, value in overrides.items()]


def _recipe_command(script: Path, hparams: Path, args: List[str]) -> List[str]:
    return [sys.executable, str(script), str(hparams), *args]


def _failure(title: str, code: int, log_path: Path) -> QuickstartError:
    tail = log_path.read_text(encoding="utf-8").splitlines()[-15:]
    return QuickstartError(f"{title} failed (exit {code}); full log: {log_path}\n" + "\n".join(tail))


def run_recipe(script: Path, hparams: Path, args: List[str], log_path: Path, title: str):
    """Runs a recipe's ``train.py`` in a subprocess, teeing its output.

    The subprocess starts in the current directory (so relative paths
    mean what they mean to the user) and shows the recipe's progress bars.

    Arguments
    ---------
    script : Path
        The recipe's ``train.py``.
    hparams : Path
        Its hparams file.
    args : list of str
        Extra command-line arguments.
    log_path : Path
        Where the full output goes.
    title : str
        For error messages.
    """
    command = _recipe_command(script, hparams, args)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        for line in process.stdout:
            log.write(line)
            if "%|" in line or "it/s" in line:  # keep tqdm progress visible
                sys.stderr.write("\r    " + line.strip()[-100:])
                sys.stderr.flush()
        code = process.wait()
    sys.stderr.write("\n")
    if code != 0:
        raise _failure(title, code, log_path)


@dataclass
class RecipeJob:
    """One recipe run of :func:`run_recipes_side_by_side`.

    Arguments
    ---------
    script, hparams : Path
        The recipe's ``train.py`` and hparams file.
    args : list of str
        Extra command-line arguments.
    log_path : Path
        Where its whole output goes.
    title : str
        Its name in the status line and in errors.
    progress : callable
        ``() -> str``: a short progress text (e.g. folds done).
    """

    script: Path
    hparams: Path
    args: List[str]
    log_path: Path
    title: str
    progress: Callable[[], str] = lambda: ""


def run_recipes_side_by_side(jobs: Sequence[RecipeJob], slots: int, poll_s: float = 2.0):
    """Runs recipe subprocesses, ``slots`` at a time, each with its share of the cores.

    Training a small head is bound by Python's per-batch overhead, not by
    arithmetic, so two runs with one thread each finish in about the time
    of one run with two threads. Each run writes its output to its log; one
    status line shows every run's progress.

    Arguments
    ---------
    jobs : sequence of RecipeJob
        Started in order as slots free up.
    slots : int
        Runs at once (1: one after another, with their progress bars).
    poll_s : float
        Seconds between status updates.

    Raises
    ------
    QuickstartError
        A run failed (the others are stopped; the message holds its log's tail).
    """
    if slots <= 1:
        for job in jobs:
            run_recipe(job.script, job.hparams, job.args, job.log_path, job.title)
        return
    threads = max(1, (os.cpu_count() or 1) // slots)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    waiting, running = list(jobs), []
    quiet = ["--noprogressbar"]  # the logs get no progress bars; the status line replaces them
    try:
        while waiting or running:
            while waiting and len(running) < slots:
                job = waiting.pop(0)
                job.log_path.parent.mkdir(parents=True, exist_ok=True)
                log = open(job.log_path, "w", encoding="utf-8")
                command = _recipe_command(job.script, job.hparams, job.args + quiet)
                log.write(" ".join(command) + "\n")
                log.flush()
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
                running.append((job, process, log))
            time.sleep(poll_s)
            for entry in list(running):
                job, process, log = entry
                code = process.poll()
                if code is None:
                    continue
                log.close()
                running.remove(entry)
                if code != 0:
                    raise _failure(job.title, code, job.log_path)
            status = "  ".join(f"{job.title}: {job.progress()}" for job, _, _ in running)
            sys.stderr.write("\r    " + status[-110:].ljust(110))
            sys.stderr.flush()
    finally:
        for _, process, log in running:
            process.kill()
            process.wait()
            log.close()
        sys.stderr.write("\n")


def stage_corpus(settings: Mapping[str, Any], out: Path) -> Path:
    """The corpus root: the user's ``corpus_folder``, or a synthetic one."""
    given = resolve_path(settings.get("corpus_folder"))
    if given is not None:
        if not given.is_dir():
            raise QuickstartError(f"corpus_folder {given} is not a folder")
        return given
    from emotion2vec.corpora.synthetic import write_synthetic_ravdess

    return write_synthetic_ravdess(
        out / "data" / "RAVDESS", actors=settings["actors"], emotions=settings["emotions"],
        repetitions=settings["repetitions"], seed=settings["seed"],
    )


def stage_prepare(corpus_root: Path, settings: Mapping[str, Any], out: Path):
    """Prepares the corpus with the real RAVDESS preparation.

    Returns
    -------
    manifest : Path
    labels : list of str
        The classes to probe: ``labels`` of the hparams for the synthetic
        corpus; every class found (in RAVDESS's order) for a user corpus.
    """
    from emotion2vec.corpora import prepare_corpus
    from emotion2vec.corpora.manifest import read_manifest
    from emotion2vec.corpora.ravdess import EMOTIONS

    user_corpus = resolve_path(settings.get("corpus_folder")) is not None
    wanted = None if user_corpus else list(settings["labels"])
    manifest = prepare_corpus(
        "ravdess", corpus_root, out / "data", emotions=wanted, compare_to_release=user_corpus
    )
    if wanted is not None:
        return manifest, wanted
    found = {row["label"] for row in read_manifest(manifest)}
    return manifest, [name for name in EMOTIONS.values() if name in found]


def stage_pretrain(manifest: Path, settings: Mapping[str, Any], out: Path, device: str) -> Path:
    """Pre-trains with the real recipe and exports the student."""
    from emotion2vec.pretrain.export import export_model_folder

    model_dir = out / "models" / "pretrained"
    if (model_dir / "model.ckpt").is_file():
        return model_dir
    results = out / "pretrain"
    run_recipe(
        RECIPES / "pretrain" / "train.py",
        RECIPES / "pretrain" / "hparams" / settings["pretrain_hparams"],
        [f"--data_folder={manifest}", f"--output_folder={results}", f"--device={device}",
         *override_args(settings["pretrain_overrides"])],
        out / "logs" / "pretrain.log", "pre-training",
    )
    return export_model_folder(results, model_dir, overwrite=True)


def stage_random_init(pretrained: Path, out: Path, seed: int) -> Path:
    """The same architecture, randomly initialised (the control upstream)."""
    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.model_folder import read_config, save_model_folder

    model_dir = out / "models" / "random_init"
    if (model_dir / "model.ckpt").is_file():
        return model_dir
    torch.manual_seed(seed)
    config = read_config(pretrained)
    model = Emotion2vecModel(config)
    return save_model_folder(
        model_dir, config, model.state_dict(),
        source={"random_init": True, "seed": seed}, overwrite=True,
    )


def probe_job(name, upstream: Optional[Path], corpus_root: Path, labels, settings, out: Path,
              device: str):
    """The cross-validated probe of one upstream with the real downstream
    recipe (on the manifest that :func:`stage_prepare` wrote).

    Returns
    -------
    job : RecipeJob
    folder : Path
        Its output folder (``results.json`` when done).
    """
    recipe = RECIPES / "RAVDESS" / "emotion_recognition"
    overrides = dict(settings["probe_overrides"], labels=list(labels), skip_prep=True,
                     prep_folder=str(out / "data"))
    if upstream is None:  # filterbanks: no utterance tokens, per-utterance normalised bands
        overrides.update(settings["fbank_overrides"])
    args = [
        f"--data_folder={corpus_root}",
        f"--upstream_source={upstream}" if upstream else "--upstream_source=null",
        f"--upstream_kind={'fbank' if upstream is None else 'emotion2vec'}",
        f"--results_root={out / 'probe'}",
        f"--experiment={name}",
        f"--device={device}",
        *override_args(overrides),
    ]
    folder = out / "probe" / name / f"seed{overrides.get('seed', 42)}"

    def progress() -> str:
        return f"{len(list(folder.glob('folds/*/fold_result.json')))} folds"

    job = RecipeJob(recipe / "train.py", recipe / "hparams" / settings["probe_hparams"], args,
                    out / "logs" / f"probe_{name}.log", name, progress)
    return job, folder


def results_table(results: Mapping[str, Dict[str, Any]]) -> str:
    """The quickstart's comparison table (markdown).

    Arguments
    ---------
    results : mapping
        Upstream name -> ``results.json`` content.

    Returns
    -------
    str

    Example
    -------
    >>> r = {"mean": {"wa": .5, "ua": .4, "wf1": .45}, "std": {"wa": .1, "ua": .1, "wf1": .1},
    ...      "num_folds": 2}
    >>> print(results_table({"fbank": r}).splitlines()[2])
    | log-mel filterbanks (no SSL) | 50.00 ± 10.00 | 40.00 ± 10.00 | 45.00 ± 10.00 |
    """
    names = dict(UPSTREAMS)
    lines = ["| upstream | WA | UA | WF1 |", "|---|---|---|---|"]
    for name, summary in results.items():
        mean, std = summary["mean"], summary["std"]
        cells = [f"{100 * mean[k]:.2f} ± {100 * std[k]:.2f}" for k in ("wa", "ua", "wf1")]
        lines.append(f"| {names.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_gain(a: Mapping[str, Any], b: Mapping[str, Any], metric: str = "ua"):
    """Mean per-fold difference ``a - b`` and its standard error.

    Both runs use the same folds (same corpus, protocol and seed), so the
    per-fold differences are paired.

    Arguments
    ---------
    a, b : mapping
        ``results.json`` contents with a ``folds`` list.
    metric : str
        Fold metric key.

    Returns
    -------
    mean, standard_error : float
        Fractions; the standard error is ``std(diff, ddof=1) / sqrt(n)``
        (0 for a single fold).

    Example
    -------
    >>> a = {"folds": [{"fold": "x", "ua": .5}, {"fold": "y", "ua": .7}]}
    >>> b = {"folds": [{"fold": "x", "ua": .4}, {"fold": "y", "ua": .4}]}
    >>> [round(v, 3) for v in paired_gain(a, b)]
    [0.2, 0.1]
    """
    of_b = {fold["fold"]: fold[metric] for fold in b["folds"]}
    diffs = [fold[metric] - of_b[fold["fold"]] for fold in a["folds"] if fold["fold"] in of_b]
    if not diffs:
        raise QuickstartError("the two probes share no fold")
    mean = sum(diffs) / len(diffs)
    if len(diffs) < 2:
        return mean, 0.0
    var = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    return mean, math.sqrt(var / len(diffs))


def stage_classify(probe_folder: Path, manifest: Path, out: Path, count: int, device: str):
    """Exports a classifier folder and runs ``emotion2vec classify`` on it."""
    from emotion2vec.cli import main as cli_main
    from emotion2vec.corpora.manifest import read_manifest
    from emotion2vec.downstream.export import export_downstream

    classifier = out / "classifier"
    export_downstream(probe_folder, classifier, overwrite=True)
    rows = read_manifest(manifest)
    picked = [rows[i]["wav"] for i in range(0, len(rows), max(1, len(rows) // count))][:count]
    for row in rows:
        if row["wav"] in picked:
            _say(f"    {Path(row['wav']).name}: true label {row['label']}")
    code = cli_main(["classify", "--model", str(classifier), "--device", device,
                     "--no-progress", *picked])
    if code != 0:
        raise QuickstartError(f"emotion2vec classify failed (exit {code})")
    return classifier


def summary_text(results, labels: Sequence[str], settings: Mapping[str, Any]) -> str:
    """``results.md``: the table, the probe and the paired gain."""
    folds = results["pretrained"]["num_folds"]
    gain, error = paired_gain(results["pretrained"], results["random_init"])
    head = settings["probe_overrides"].get("head", {})
    feature = settings["probe_overrides"].get("feature", "frm")
    fbank = settings["fbank_overrides"]
    return (
        f"Speaker-independent {folds}-fold CV ({len(labels)} classes, chance "
        f"{100 / len(labels):.0f}%), frozen upstreams: {head.get('type', 'superb')} head on "
        f"`{feature}` features, input standardised with training-fold statistics "
        f"(filterbanks: {fbank.get('head', {}).get('type', 'superb')} head on "
        f"`{fbank.get('feature', 'frm')}`):\n\n" + results_table(results) + "\n\n"
        f"Pre-trained minus random init, paired over the same folds: "
        f"{100 * gain:+.2f} ± {100 * error:.2f} UA points (mean ± standard error).\n"
    )


def run_quickstart(settings: Mapping[str, Any], device: str = "cpu") -> Dict[str, Any]:
    """Runs every stage and returns the probe results.

    Arguments
    ---------
    settings : mapping
        The quickstart hparams (see ``recipes/quickstart/hparams``).
    device : str
        Device for pre-training, probing and classification.

    Returns
    -------
    dict
        ``results`` (upstream -> results.json), ``table``, output paths.
    """
    out = resolve_path(settings["output_folder"])
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()

    def stage(number, text):
        _say(f"[{number}/6] {text}  (elapsed {time.time() - start:.0f} s)")

    if resolve_path(settings.get("corpus_folder")) is None:
        stage(1, "Synthesising an acted-emotion corpus (RAVDESS layout)")
    else:
        stage(1, f"Using the corpus in {resolve_path(settings['corpus_folder'])}")
    corpus_root = stage_corpus(settings, out)
    stage(2, "Preparing it with the RAVDESS preparation")
    manifest, labels = stage_prepare(corpus_root, settings, out)
    stage(3, "Pre-training a tiny emotion2vec with recipes/pretrain (the longest stage)")
    pretrained = stage_pretrain(manifest, settings, out, device)
    random_init = stage_random_init(pretrained, out, settings["seed"])
    stage(4, "Probing frozen upstreams with recipes/RAVDESS, leave-one-speaker-out CV")
    jobs, folders = {}, {}
    for name, upstream in (("pretrained", pretrained), ("random_init", random_init), ("fbank", None)):
        jobs[name], folders[name] = probe_job(name, upstream, corpus_root, labels, settings, out, device)
    slots = int(settings["probes_side_by_side"]) if device == "cpu" else 1
    # side by side, the longest run (filterbank frames) starts first and the
    # two short ones share the other slot
    order = ("fbank", "pretrained", "random_init") if slots > 1 else tuple(jobs)
    _say(f"    {', '.join(dict(UPSTREAMS)[name] for name in folders)}"
         + (f" ({slots} at a time, logs in {out / 'logs'})" if slots > 1 else ""))
    run_recipes_side_by_side([jobs[name] for name in order], slots)
    results = {name: json.loads((folder / "results.json").read_text()) for name, folder in folders.items()}
    stage(5, "Results")
    text = summary_text(results, labels, settings)
    (out / "results.md").write_text(text, encoding="utf-8")
    _say(text)
    stage(6, "Exporting a classifier and running `emotion2vec classify`")
    classifier = stage_classify(folders["pretrained"], manifest, out, settings["classify_files"], device)
    _say(f"Done in {time.time() - start:.0f} s. Outputs under {out}: results.md, probe/*/ "
         f"(per-fold predictions, confusion_matrix.png, embedding.png), models/, {classifier.name}/")
    return {"results": results, "output_folder": str(out),
            "classifier": str(classifier), "seconds": time.time() - start}
