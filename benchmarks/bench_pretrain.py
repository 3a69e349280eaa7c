"""Pre-training throughput: seconds of audio per wall-clock second, and peak
memory, of one full training step (student forward/backward, teacher
targets, loss, Adam step, EMA update).

Two variants on the same architecture, batch and masks:

- ``efficient`` (the recipe, data2vec 2.0): the student encodes only the
  kept frames of its ``clone_batch`` masked copies, and ONE teacher pass per
  utterance serves all copies;
- ``naive``: a full-sequence student (masked frames zeroed but encoded,
  decoder on the full output) and one teacher pass per copy.

Each (architecture, variant) runs in its own subprocess so that peak memory
(CPU: peak RSS growth over the process after model creation; CUDA:
``max_memory_allocated``) is its own. Throughput counts the audio of the
utterances (not of the copies): ``batch * seconds / step time``.

Run:
    python benchmarks/bench_pretrain.py --threads 2
    python benchmarks/bench_pretrain.py --arch base --batch 2 --seconds 4 --steps 2

Every timing reports wall time and process CPU time; CPU/wall close to the
thread count means the process really got its cores.

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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emotion2vec.audio import SAMPLE_RATE as SR  # noqa: E402
from emotion2vec.model import Emotion2vecModel  # noqa: E402
from emotion2vec.model.emotion2vec import count_frames  # noqa: E402
from emotion2vec.pretrain.losses import Emotion2vecLoss  # noqa: E402
from emotion2vec.pretrain.masking import make_pretrain_masks  # noqa: E402
from emotion2vec.pretrain.schedulers import param_groups_for_weight_decay  # noqa: E402
from emotion2vec.pretrain.student import clone_features, student_forward  # noqa: E402
from emotion2vec.pretrain.teacher import make_teacher, teacher_targets  # noqa: E402

TINY = dict(
    embed_dim=64, num_heads=4, prenet_depth=1, depth=2, decoder_dim=32,
    feature_encoder_spec="[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32,2,2)] + [(32,2,2)]",
)
ARCHS = {"tiny": (TINY, 2), "base": ({}, 8)}  # fields, average_top_k_layers


def naive_step_outputs(model, teacher, wavs, mask, clone, top_k):
    """Full-sequence student and one teacher pass per copy."""
    lengths = torch.full((wavs.shape[0],), wavs.shape[1], dtype=torch.long)
    x, _, _ = model.local_features(wavs, lengths)
    xs = clone_features(x, clone)
    enc = model.encoder(xs, frame_mask=mask)
    E = enc.num_tokens
    hidden = torch.nn.functional.dropout(enc.hidden, model.config.decoder_input_dropout, model.training)
    frames = hidden[:, E:]
    noise = torch.randn_like(frames) * model.config.mask_noise_std
    dec_in = torch.where(mask.unsqueeze(-1), noise, frames)
    prediction = model.decoder(dec_in)
    targets = teacher_targets(teacher, xs, top_k)  # clone x more teacher work
    return prediction, targets, hidden[:, :E], frames


def efficient_step_outputs(model, teacher, wavs, mask, clone, top_k):
    """The recipe's path: kept frames only, one teacher pass per utterance."""
    out = student_forward(model, wavs, mask, clone)
    targets = teacher_targets(teacher, out.local_features, top_k)
    targets = targets.repeat_interleave(clone, 0)
    return out.prediction, targets, out.tokens(), out.frames()


def run_one(args):
    """One (arch, variant) measurement; prints a JSON line."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fields, top_k = ARCHS[args.arch]
    device = torch.device(args.device)
    model = Emotion2vecModel(**fields).to(device).train()
    teacher = make_teacher(model).to(device)
    loss_fn = Emotion2vecLoss()
    optimizer = torch.optim.AdamW(
        param_groups_for_weight_decay(model.named_parameters(), 0.01), lr=1e-5
    )
    clone = args.clone
    samples = int(args.seconds * SR)
    frames = count_frames(samples, model.config)
    wavs = torch.randn(args.batch, samples, device=device)
    gen = torch.Generator().manual_seed(0)
    mask = make_pretrain_masks([frames] * args.batch, clone, 0.5, 5, 0.05, generator=gen).to(device)
    outputs = efficient_step_outputs if args.variant == "efficient" else naive_step_outputs
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    def step(number):
        with autocast:
            pred, targets, tokens, kept = outputs(model, teacher, wavs, mask, clone, top_k)
            losses = loss_fn(pred, targets, mask, token_out=tokens, frame_out=kept)
        losses["total"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        teacher.update(model, number)

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step(1)  # warm-up
    walls, cpus = [], []
    for number in range(2, args.steps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        w0, c0 = time.perf_counter(), time.process_time()
        step(number)
        if device.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    if args.verbose:
        print("steps", [round(w, 3) for w in walls], [round(c, 3) for c in cpus], file=sys.stderr)
    wall = min(walls)
    cpu = cpus[walls.index(wall)]
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024
    print(json.dumps({
        "arch": args.arch, "variant": args.variant, "device": str(device),
        "bf16": args.bf16, "batch": args.batch, "seconds": args.seconds,
        "clone_batch": clone, "frames": frames, "step_wall_s": round(wall, 3),
        "step_cpu_s": round(cpu, 3), "cpu_per_wall": round(cpu / wall, 2),
        "audio_s_per_s": round(args.batch * args.seconds / wall, 3),
        "peak_mem_mb": round(peak_mb, 1), "threads": args.threads,
    }))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), nargs="+", default=["tiny", "base"])
    parser.add_argument("--variant", choices=["efficient", "naive"], nargs="+",
                        default=["efficient", "naive"])
    parser.add_argument("--batch", type=int, default=None, help="utterances (tiny 8, base 2)")
    parser.add_argument("--seconds", type=float, default=None, help="per utterance (tiny 4, base 4)")
    parser.add_argument("--clone", type=int, default=8, help="masked copies (released base: 8)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (best of)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--verbose", action="store_true", help="print every step time")
    args = parser.parse_args(argv)
    if args.single:
        args.arch, args.variant = args.arch[0], args.variant[0]
        return run_one(args)
    results = []
    for arch in args.arch:
        for variant in args.variant:
            batch = args.batch or (8 if arch == "tiny" else 2)
            seconds = args.seconds or 4.0
            command = [
                sys.executable, __file__, "--single", "--arch", arch, "--variant", variant,
                "--batch", str(batch), "--seconds", str(seconds), "--steps", str(args.steps),
                "--threads", str(args.threads), "--device", args.device,
            ]
            command += ["--clone", str(args.clone)]
            if args.bf16:
                command.append("--bf16")
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            line = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(line)
            print(json.dumps(line), flush=True)
    for arch in args.arch:
        rows = {r["variant"]: r for r in results if r["arch"] == arch}
        if {"efficient", "naive"} <= set(rows):
            e, n = rows["efficient"], rows["naive"]
            print(f"{arch}: efficient {e['audio_s_per_s']} audio-s/s, "
                  f"naive {n['audio_s_per_s']} audio-s/s, speed-up "
                  f"{n['step_wall_s'] / e['step_wall_s']:.2f}x (CPU time "
                  f"{n['step_cpu_s'] / e['step_cpu_s']:.2f}x); peak memory "
                  f"{e['peak_mem_mb']} vs {n['peak_mem_mb']} MB")


if __name__ == "__main__":
    main()
