"""Fine-tuning cost per mode: seconds per training step and peak memory.

One training step of the custom recipe's classifier
(:class:`emotion2vec.finetune.model.FineTuneClassifier`: backbone, ``frm``
features, linear head, AdamW over :func:`emotion2vec.finetune.freezing.param_groups`)
on a batch of ``--batch`` random waveforms of ``--seconds`` seconds, in
each mode of ``recipes/custom/emotion_recognition``:

- ``probe``: frozen upstream (``hparams/probe.yaml``): the upstream's
  forward without gradients (paid once per utterance: the features are
  cached) plus a head step;
- ``top4``: the top 4 blocks and the head train (``hparams/finetune_top.yaml``);
- ``full``: everything but the conv front-end trains (``hparams/finetune.yaml``).

Each mode runs in a fresh subprocess, so that its peak memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the peak resident set of
the process, which counts torch's allocations, unlike ``tracemalloc``) is
its own; the report gives the peak and its growth over the process right
after the model was built (the training overhead: gradients, optimizer
state, activations). Every timing reports wall time and process CPU time;
CPU/wall close to the thread count means the process had its cores (on a
busy machine, CPU seconds per step divided by the threads is the better
estimate of the time on an idle one).

Run::

    python benchmarks/bench_finetune.py                      # base, CPU, 2 threads, 4 x 4 s
    python benchmarks/bench_finetune.py --repeat 3 --out benchmarks/results_finetune_cpu2.json
    python benchmarks/bench_finetune.py --arch hparams/emotion2vec_tiny.yaml --steps 2

Authors
 * emotion2vec-sb contributors
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = {"probe": 0, "top4": 4, "full": "all"}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_mode(mode: str, args) -> dict:
    """One mode, in this process (the child)."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    from emotion2vec.audio import SAMPLE_RATE
    from emotion2vec.finetune.freezing import configure_trainable, param_groups
    from emotion2vec.finetune.model import FineTuneClassifier
    from emotion2vec.model.heads import build_head

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(ROOT / args.arch, encoding="utf-8") as handle:
        arch = load_hyperpyyaml(handle, {"build_decoder": False})
    backbone = arch["model"]
    head = build_head({"type": "linear", "input_dim": backbone.config.embed_dim,
                       "labels": ["a", "b", "c", "d"]})
    clf = FineTuneClassifier(backbone, head, "frm")
    blocks = MODES[mode]
    if isinstance(blocks, int):  # top4 on a model with fewer blocks: all of them
        blocks = min(blocks, backbone.config.num_blocks)
    plan = configure_trainable(clf, blocks, freeze_feature_extractor=True)
    optimizer = torch.optim.AdamW(param_groups(clf, 5e-5, 1e-3, 1.0, 0.01))
    clf.train()
    wavs = torch.randn(args.batch, int(args.seconds * SAMPLE_RATE)) * 0.1
    lens = torch.ones(args.batch)
    targets = torch.arange(args.batch) % 4
    built = _rss_mb()

    def step():
        if mode == "probe":  # features once (no graph), then the head
            with torch.no_grad():
                out = backbone.extract_features(wavs, lens)
            logits = head(*clf.option.head_inputs(out))
        else:
            logits = clf(wavs, lens)
        loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up (allocator, optimizer state)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _rss_mb()
    return {
        "mode": mode,
        "trainable_parameters": plan["trainable_parameters"],
        "trainable_blocks": len(plan["trainable_blocks"]),
        "seconds_per_step": wall / args.steps,
        "cpu_seconds_per_step": cpu / args.steps,
        "cpu_over_wall": cpu / wall,
        "peak_rss_mb": peak,
        "training_overhead_mb": peak - built,
        "rss_after_build_mb": built,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="hparams/emotion2vec_base.yaml")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--repeat", type=int, default=1,
                        help="fresh processes per mode; the fastest is reported (busy machines)")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_mode(args.child, args)))
        return 0
    results = []
    for mode in args.modes.split(","):
        command = [sys.executable, __file__, "--child", mode, "--arch", args.arch,
                   "--threads", str(args.threads), "--batch", str(args.batch),
                   "--seconds", str(args.seconds), "--steps", str(args.steps)]
        runs = []
        for _ in range(args.repeat):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = min(runs, key=lambda run: run["seconds_per_step"])
        r["repeats"] = [round(run["seconds_per_step"], 3) for run in runs]
        results.append(r)
        print(f"{r['mode']:>5}: {r['seconds_per_step']:.2f} s/step ({r['cpu_seconds_per_step']:.2f} "
              f"CPU s), CPU/wall {r['cpu_over_wall']:.2f}, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB (+{r['training_overhead_mb']:.0f} MB over the "
              f"built model), {r['trainable_parameters'] / 1e6:.2f} M trainable", flush=True)
    report = {"arch": args.arch, "threads": args.threads, "batch": args.batch,
              "seconds": args.seconds, "steps": args.steps, "repeat": args.repeat,
              "device": "cpu", "precision": "fp32",
              "torch": __import__("torch").__version__, "results": results}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
