"""Inference speed: seconds of compute per second of audio.

Measures the emotion2vec_base architecture (random weights) on CPU with a
fixed number of threads: batch 1 on a 10 s clip, and a batch of 8 clips of
mixed lengths, both as ``emotion2vec extract`` / ``classify`` run them on
a CPU (each clip on its own, at its own length:
``emotion2vec.audio.batching.batch_budget``) and as one padded forward
(what they do on an accelerator), in fp32 and (where
the CPU supports it) bf16 autocast. When FunASR is importable (the official implementation;
install it in a scratch venv, never as a project dependency), the official
model is timed in the same run on the same weights, its outputs compared to
ours, and the speed ratio printed. Official inference runs one utterance at
a time, so its "batch of 8" is 8 sequential calls.

Run:
    python benchmarks/bench_inference.py --threads 2
    # with the official code side by side (scratch venv that has funasr):
    PYTHONPATH=. /work/scratch/funasr-venv/bin/python benchmarks/bench_inference.py

Every timing reports wall time and process CPU time; CPU/wall close to the
thread count means the process really got its cores.

Authors
 * emotion2vec-sb contributors
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emotion2vec.audio import SAMPLE_RATE as SR  # noqa: E402
from emotion2vec.checkpoints import official_model_conf, to_official_state_dict  # noqa: E402
from emotion2vec.model import Emotion2vecConfig, Emotion2vecModel  # noqa: E402

MIXED_SECONDS = [2.1, 3.4, 4.0, 5.7, 6.3, 7.9, 9.2, 11.5]


def timed(fn, repeats):
    """Best-of-``repeats`` wall and CPU seconds of ``fn()`` (after warm-up)."""
    fn()
    best = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu)
    return best


def build_official(config, state_dict):
    """FunASR's Emotion2vec with our weights, or None when not importable."""
    try:
        from funasr.models.emotion2vec.model import Emotion2vec
    except Exception:
        return None
    conf = official_model_conf(config)
    model = Emotion2vec(model_conf=conf, vocab_size=-1)
    official = to_official_state_dict(
        {k: v for k, v in state_dict.items() if not k.startswith("decoder.")}
    )
    missing, unexpected = model.load_state_dict(official, strict=False)
    missing = [k for k in missing if ".decoder." not in k]
    if missing or unexpected:
        raise RuntimeError(f"official model: missing {missing}, unexpected {unexpected}")
    return model.eval()


def official_forward(model, wav):
    """The official per-utterance inference path (FunASR ``inference``)."""
    with torch.no_grad():
        x = torch.nn.functional.layer_norm(wav, wav.shape).view(1, -1)
        out = model.extract_features(x, padding_mask=None, remove_extra_tokens=True)
        return out["x"]


def bf16_supported():
    """Whether this CPU has native bf16 matrix instructions."""
    try:
        return torch.backends.mkldnn.is_bf16_supported()
    except AttributeError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--arch", default="base", choices=["base", "tiny"])
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    if args.arch == "base":
        config = Emotion2vecConfig(build_decoder=False)
    else:
        config = Emotion2vecConfig(
            embed_dim=64, num_heads=4, prenet_depth=1, depth=2, decoder_dim=32,
            feature_encoder_spec="[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32,2,2)] * 2",
            build_decoder=False,
        )
    ours = Emotion2vecModel(config).eval()
    official = build_official(config, ours.state_dict())

    clip = torch.randn(10 * SR) * 0.1
    mixed = [torch.randn(int(s * SR)) * 0.1 for s in MIXED_SECONDS]
    padded = torch.zeros(len(mixed), max(len(w) for w in mixed))
    for i, w in enumerate(mixed):
        padded[i, : len(w)] = w
    lens = torch.tensor([len(w) / padded.shape[1] for w in mixed])
    mixed_audio = sum(MIXED_SECONDS)

    results = {"threads": args.threads, "arch": args.arch, "torch": torch.__version__,
               "official_available": official is not None, "rows": []}

    def report(name, audio_s, wall_cpu, extra=""):
        wall, cpu = wall_cpu
        row = {"case": name, "rtf": wall / audio_s, "wall_s": wall, "cpu_s": cpu,
               "cpu_per_wall": cpu / wall}
        results["rows"].append(row)
        print(f"{name:42s} {wall / audio_s:8.4f} s/s  (wall {wall:6.2f} s, "
              f"cpu/wall {cpu / wall:4.2f}) {extra}")
        return row

    precisions = ["fp32"] + (["bf16"] if bf16_supported() else [])
    print(f"torch {torch.__version__}, {args.threads} threads, arch {args.arch}, "
          f"bf16 {'yes' if 'bf16' in precisions else 'not supported by this CPU'}, "
          f"official {'FunASR' if official is not None else 'not importable'}")
    with torch.no_grad():
        for precision in precisions:
            ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16"
                   else torch.autocast("cpu", enabled=False))

            def ours_b1():
                with ctx:
                    return ours.extract_features(clip.unsqueeze(0)).frames

            def ours_b8():  # the CPU policy: one clip per forward
                with ctx:
                    return [ours.extract_features(w.unsqueeze(0)).frames[0] for w in mixed]

            def ours_b8_padded():
                with ctx:
                    return ours.extract_features(padded, lens).frames

            r1 = report(f"ours   {precision} batch 1 x 10 s", 10.0, timed(ours_b1, args.repeats))
            r8 = report(f"ours   {precision} 8 mixed ({mixed_audio:.0f} s), one by one", mixed_audio,
                        timed(ours_b8, args.repeats))
            report(f"ours   {precision} batch 8 mixed, one padded forward", mixed_audio,
                   timed(ours_b8_padded, args.repeats))
            if official is None or precision != "fp32":
                continue
            ref1 = official_forward(official, clip)
            diff = (ours_b1().float() - ref1).abs().max().item()
            o1 = report("official fp32 batch 1 x 10 s", 10.0,
                        timed(lambda: official_forward(official, clip), args.repeats),
                        f"max|ours-official| {diff:.2e}")
            o8 = report(f"official fp32 8 clips one by one ({mixed_audio:.0f} s)", mixed_audio,
                        timed(lambda: [official_forward(official, w) for w in mixed], args.repeats))
            ours_b8_out = ours_b8()
            diff8 = max(
                (ours_b8_out[i] - ref[0]).abs().max().item()
                for i, ref in enumerate(official_forward(official, w) for w in mixed)
            )
            print(f"speed-up batch 1: {o1['rtf'] / r1['rtf']:.2f}x; "
                  f"batch 8: {o8['rtf'] / r8['rtf']:.2f}x "
                  f"(ours one by one vs official: max diff {diff8:.2e})")
            results.update(max_diff_b1=diff, max_diff_b8=diff8,
                           speedup_b1=o1["rtf"] / r1["rtf"], speedup_b8=o8["rtf"] / r8["rtf"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
