"""What a ``min_duration`` floor costs a pre-training manifest: files and
hours kept, and the audio one epoch really feeds the model once every
batch is cropped to 20 s and to its shortest file (the release's
crop-to-shortest batches, packed as the recipe packs them).

Run it on any manifest with a ``duration`` column (seconds), such as the
prepared Emo-262 one (``<output_folder>/save/pretrain_train.csv``, which
keeps every file of 45 ms and longer by default) or a corpus manifest:

    python benchmarks/bench_min_duration.py results/.../save/pretrain_train.csv
    python benchmarks/bench_min_duration.py meld.csv --floors 0.045 0.5 1 2

``--resample N`` first draws N durations from the file's (a smoothed
bootstrap, each draw jittered by 3 %): for a SAMPLE of a corpus's
durations, so that the batches are as dense as on the whole corpus (the
crop-to-shortest cut shrinks as batches fill with similar lengths).

Authors
 * emotion2vec-sb contributors
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emotion2vec.audio import SAMPLE_RATE  # noqa: E402
from emotion2vec.corpora.manifest import read_manifest  # noqa: E402
from emotion2vec.pretrain.data import PretrainBatchSampler, batch_audio_summary  # noqa: E402


class _Sizes:
    """The dataset interface the batch sampler needs (lengths only)."""

    def __init__(self, sizes):
        self.sizes = sizes

    def set_epoch(self, epoch):
        pass


def floor_table(durations, floors, max_batch_samples=1_000_000, max_sample_size=320_000):
    """Markdown rows: per floor, files / hours kept and hours fed per epoch."""
    durations = np.asarray(durations, dtype=float)
    total_hours = durations.sum() / 3600
    lines = [
        "| min_duration | files kept | hours kept | batches | hours fed per epoch "
        "| cut by the 20 s crop | cut by crop-to-shortest |",
        "|---|---|---|---|---|---|---|",
    ]
    for floor in floors:
        kept = durations[durations >= floor]
        sizes = [int(round(d * SAMPLE_RATE)) for d in kept]
        sampler = PretrainBatchSampler(_Sizes(sizes), max_batch_samples, max_sample_size, seed=0)
        audio = batch_audio_summary(sampler, sizes)
        lines.append(
            f"| {floor:g} s | {len(kept):,} ({100 * len(kept) / len(durations):.1f} %) "
            f"| {kept.sum() / 3600:.2f} ({100 * kept.sum() / 3600 / total_hours:.1f} %) "
            f"| {audio['batches']:,} | {audio['hours_used']:.2f} "
            f"| {100 * audio['max_crop_share']:.2f} % | {100 * audio['shortest_crop_share']:.2f} % |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", help="CSV with a duration column (seconds)")
    parser.add_argument("--floors", type=float, nargs="+", default=[0.045, 0.5, 1.0, 2.0])
    parser.add_argument("--resample", type=int, default=0,
                        help="draw this many durations first (smoothed bootstrap of a sample)")
    parser.add_argument("--max_batch_samples", type=int, default=1_000_000)
    parser.add_argument("--max_sample_size", type=int, default=320_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    durations = np.array([float(r["duration"]) for r in read_manifest(args.manifest, ("duration",))])
    if args.resample:
        rng = np.random.default_rng(args.seed)
        durations = rng.choice(durations, args.resample) * np.exp(rng.normal(0, 0.03, args.resample))
    print(f"{args.manifest}: {len(durations):,} durations, {durations.sum() / 3600:.2f} h, "
          f"mean {durations.mean():.2f} s" + (" (resampled)" if args.resample else ""))
    print(floor_table(durations, args.floors, args.max_batch_samples, args.max_sample_size))


if __name__ == "__main__":
    main()
