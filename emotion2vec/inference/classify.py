"""``emotion2vec classify``: audio files -> one emotion label each.

Files are sorted by length; on a CPU each is classified on its own, on an
accelerator they share padded batches under a budget of padded samples
(:func:`emotion2vec.audio.batching.batch_budget`; a padded batch gives the
same answers as one file at a time). Results come out in that order, as
each batch is done. A file longer than
``max_seconds`` is classified window by window (``max_seconds`` windows)
and gets the aggregate of its windows; with ``window_s`` every file is.
Unreadable or too short files are reported and skipped.

Authors
 * emotion2vec-sb contributors
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from emotion2vec.audio import SAMPLE_RATE, AudioError, find_audio_files, read_audio
from emotion2vec.audio.batching import batch_budget, length_batches, pad_batch, usable_samples
from emotion2vec.inference.classifier import Emotion2vecClassifier

logger = logging.getLogger(__name__)


@dataclass
class FileResult:
    """Classification of one file.

    Arguments
    ---------
    path : Path
        The audio file.
    label : str
        Best label.
    score : float
        Its probability.
    probs : dict
        Probability of every label.
    segments : list of dict, optional
        ``{"start", "end", "label", "score"}`` per window (windowed files).
    """

    path: Path
    label: str
    score: float
    probs: Dict[str, float]
    segments: Optional[List[Dict]] = None

    def to_json(self) -> Dict:
        """The JSON-lines record of this result.

        Returns
        -------
        dict
            ``path``, ``label``, ``score``, ``probs`` (and ``segments``).

        Example
        -------
        >>> FileResult(Path("a.wav"), "sad", 0.5, {"sad": 0.5}).to_json()
        {'path': 'a.wav', 'label': 'sad', 'score': 0.5, 'probs': {'sad': 0.5}}
        """
        record = {"path": str(self.path), "label": self.label, "score": self.score, "probs": self.probs}
        if self.segments is not None:
            record["segments"] = self.segments
        return record

    def to_line(self) -> str:
        """The text record: ``path<TAB>label<TAB>score``.

        Returns
        -------
        str

        Example
        -------
        >>> FileResult(Path("a.wav"), "sad", 0.51234, {}).to_line()
        'a.wav\\tsad\\t0.5123'
        """
        return f"{self.path}\t{self.label}\t{self.score:.4f}"


@dataclass
class ClassifyReport:
    """What a classification run did.

    Arguments
    ---------
    results : list of FileResult
        Classified files, in processing order.
    failed : list of (Path, str)
        Inputs that could not be processed, with the reason.
    """

    results: List[FileResult] = field(default_factory=list)
    failed: List[Tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when at least one file was classified."""
        return bool(self.results)


def _gather(inputs: Sequence, report: ClassifyReport) -> List[Tuple[Path, Path]]:
    """Audio files of every input; a missing input is reported, not fatal."""
    found = {}
    for item in inputs:
        try:
            for path, rel in find_audio_files([item]):
                found.setdefault(path.resolve(), (path, rel))
        except AudioError as error:
            report.failed.append((Path(item), str(error)))
            logger.warning("skipping %s", error)
    return sorted(found.values(), key=lambda pair: str(pair[0]))


def _result(path, probs, score, label, labels, used) -> FileResult:
    """One file's result from the classifier's answer (``probs [labels]``,
    its best ``score`` and ``label``); ``unuse*`` labels (always probability
    0) are left out of ``probs``, as officially."""
    values = probs.tolist()
    return FileResult(path, label, float(score), {labels[i]: values[i] for i in used})


def classify_files(
    classifier: Emotion2vecClassifier,
    inputs: Sequence,
    batch_seconds: float = 160.0,
    max_seconds: float = 60.0,
    window_s: Optional[float] = None,
    hop_s: Optional[float] = None,
    progress: bool = True,
    on_result: Optional[Callable[[FileResult], None]] = None,
) -> ClassifyReport:
    """Classifies audio files (and folders, searched recursively).

    Arguments
    ---------
    classifier : Emotion2vecClassifier
        A classifier with a head.
    inputs : sequence of str or Path
        Audio files and/or folders.
    batch_seconds : float
        Padded audio per batch (seconds) on an accelerator (on a CPU each
        file is its own batch).
    max_seconds : float
        Longer files are classified in windows of this length.
    window_s : float, optional
        Classify every file in windows of this length (per-window results
        in ``FileResult.segments``).
    hop_s : float, optional
        Seconds between window starts (default: the window length).
    progress : bool
        Show a progress bar (stderr).
    on_result : callable, optional
        Called with each ``FileResult`` as soon as it is ready.

    Returns
    -------
    ClassifyReport
    """
    if not classifier.has_head:
        raise ValueError("the model has no classification head: nothing to classify with")
    report = ClassifyReport()
    min_samples = classifier.mods.model.min_samples
    todo = []
    for path, _ in _gather(inputs, report):
        try:
            todo.append((path, None, usable_samples(path, min_samples)))
        except AudioError as error:
            report.failed.append((path, str(error)))
            logger.warning("skipping %s", error)

    def done(result):
        report.results.append(result)
        if on_result is not None:
            on_result(result)

    long_samples = int(max_seconds * SAMPLE_RATE) if window_s is None else 0
    labels = classifier.labels
    used = [i for i, s in enumerate(classifier.label_strings) if not s.startswith("unuse")]
    bar = tqdm(total=len(todo), disable=not progress, unit="file", desc="classify")
    budget = batch_budget(classifier.device, int(batch_seconds * SAMPLE_RATE))
    for batch in length_batches(todo, budget, long_samples):
        if len(batch) == 1 and batch[0][2] > long_samples:
            path = batch[0][0]
            window = max_seconds if window_s is None else window_s
            try:
                out = classifier.classify_file(path, window_s=window, hop_s=hop_s)
            except ValueError as error:  # AudioError included
                report.failed.append((path, str(error)))
                logger.warning("skipping %s", error)
            else:
                probs, score, _, best = out.aggregate
                result = _result(path, probs[0], score[0], best[0], labels, used)
                result.segments = [
                    {"start": s.start, "end": s.end, "label": s.label, "score": s.score}
                    for s in out.segments
                ]
                done(result)
            bar.update(1)
            continue
        paths, wavs = [], []
        for path, _, _ in batch:
            try:
                wavs.append(read_audio(path, SAMPLE_RATE))
                paths.append(path)
            except AudioError as error:
                report.failed.append((path, str(error)))
                logger.warning("skipping %s", error)
        if wavs:
            padded, lengths = pad_batch(wavs)
            probs, scores, _, best = classifier.classify_batch(padded, lengths=lengths)
            for path, row, score, label in zip(paths, probs.cpu(), scores.cpu(), best):
                done(_result(path, row, score, label, labels, used))
        bar.update(len(batch))
    bar.close()
    return report
