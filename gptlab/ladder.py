"""The ablation ladder of chapter 07: what each part of the transformer is worth, measured.
Eight rungs (:data:`RUNGS`), each adding one idea to the one before, trained on one
:class:`Budget` with gptlab's one loop on character-level Shakespeare and scored in held-out
nats per character; ``gptlab ablate`` writes ``book/data/ablation.json``. Characters that only
the held-out works use map to the reserved id ``UNK`` and are scored."""

import datetime
import functools
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from tqdm import tqdm

from gptlab import data
from gptlab.attention import MultiHeadAttention
from gptlab.model import MLP, Block, GPTConfig, LayerNorm, check_idx, init_weights
from gptlab.tokenizers import CharTokenizer
from gptlab.train import configure_optimizer, held_out_loss, lr_schedule, train_loop

#: The rungs in order, each as (name, what it adds); a rung is named by its index or its name.
RUNGS: tuple[tuple[str, str], ...] = (
    ("bigram", "a V x V lookup table of next-character logits"),
    ("+ one attention head", "token embedding -> one causal head (size C) -> linear to vocab"),
    ("+ positions", "+ learned position embeddings added to the token embeddings"),
    ("+ multi-head", "4 heads of size C/4 and an output projection"),
    ("+ MLP", "+ a position-wise feed-forward (4C, GELU) after attention, no residuals"),
    ("+ residual connections", "x = x + attn(x); x = x + mlp(x)"),
    ("+ LayerNorm (full block)", "pre-LN as GPT-2 (a real Block) and a final LayerNorm"),
    ("more layers", "the full block stacked n_layer times"),
)
UNK = "\x00"  # the reserved character for characters the training split never uses
Texts = tuple[str, str] | None  # (train_text, val_text); None: Shakespeare's two splits
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "book" / "data" / "ablation.json"


def rung_index(rung: int | str) -> int:
    """The index 0..7 of ``rung`` (an index or a name of :data:`RUNGS`); ValueError otherwise."""
    names = [name for name, _ in RUNGS]
    if isinstance(rung, int) and not isinstance(rung, bool) and 0 <= rung < len(RUNGS):
        return rung
    if isinstance(rung, str) and rung in names:
        return names.index(rung)
    raise ValueError(f"Unknown rung {rung!r}; use an index 0..{len(RUNGS) - 1} or one of {names}.")


@dataclass(frozen=True)
class Budget:
    """The one training budget every rung gets (same steps, batch, context, schedule, width)."""

    steps: int = 500
    batch_size: int = 32
    block_size: int = 64  # context T, in characters
    n_embd: int = 64  # width C
    n_head: int = 4  # heads from rung 3 on
    n_layer: int = 4  # blocks in the last rung
    lr: float = 1e-2  # peak learning rate, after linear warmup, then cosine to min_lr
    min_lr: float = 1e-3
    warmup: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_windows: int = 256  # evenly spaced windows of each split (256 x 64 = 16k characters)

    def __post_init__(self) -> None:
        for name in "steps batch_size block_size n_embd n_head n_layer eval_windows".split():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Budget.{name} must be a positive whole number, got {value!r}.")
        if not 0 <= self.warmup < self.steps:
            got = f"got {self.warmup} with steps={self.steps}"
            raise ValueError(f"Budget.warmup must be in 0..steps-1, {got}.")


class _Layer(nn.Module):
    """The layer of rungs 1-5: attention, then an MLP and residuals where the rung has them (no
    LayerNorm: from rung 6 on the layer is a :class:`gptlab.model.Block`). ``(B, T, C)``."""

    def __init__(self, config: GPTConfig, mlp: bool, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.attn = MultiHeadAttention(config.n_embd, config.n_head)
        if config.n_head == 1:  # a single head has nothing to mix: no output projection
            self.attn.c_proj = nn.Identity()
        self.mlp = MLP(config) if mlp else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.residual:
            x = x + self.attn(x)
            return x + self.mlp(x)
        return self.mlp(self.attn(x))


class LadderModel(nn.Module):
    """The model of one rung: ``forward(idx (B, T), targets=None) -> (logits (B, T, V), loss)``.
    ``n_head`` counts from rung 3 on, ``n_layer`` in rung 7 only; GPT-2's initialisation, no
    weight tying. ValueError: unknown rung, bad sizes, a sequence longer than ``block_size``."""

    def __init__(
        self,
        rung: int | str,
        vocab_size: int,
        n_embd: int = 64,
        block_size: int = 64,
        n_head: int = 4,
        n_layer: int = 4,
    ) -> None:
        super().__init__()
        self.rung = r = rung_index(rung)
        layers = n_layer if r >= 7 else 1
        self.config = GPTConfig(vocab_size, block_size, layers, n_head if r >= 3 else 1, n_embd)
        if r == 0:
            self.table = nn.Embedding(vocab_size, vocab_size)  # row i: logits of the next char
        else:
            self.wte = nn.Embedding(vocab_size, n_embd)
            self.wpe = nn.Embedding(block_size, n_embd) if r >= 2 else None
            layer = Block if r >= 6 else functools.partial(_Layer, mlp=r >= 4, residual=r >= 5)
            self.h = nn.ModuleList(layer(self.config) for _ in range(layers))
            self.ln_f = LayerNorm(n_embd) if r >= 6 else nn.Identity()
            self.lm_head = nn.Linear(n_embd, vocab_size)
        init_weights(self, self.h if r >= 5 else (), layers)  # residual scaling from rung 5

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        idx = check_idx(idx, self.config)
        if self.rung == 0:
            logits = self.table(idx)  # (B, T, V)
        else:
            x = self.wte(idx)  # (B, T, C)
            if self.wpe is not None:
                x = x + self.wpe(torch.arange(idx.size(1), device=idx.device))  # (T, C), over B
            for layer in self.h:
                x = layer(x)  # (B, T, C); attention is causal
            logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


def encode_splits(train_text: str, val_text: str) -> tuple[int, Tensor, Tensor, int]:
    """``(vocab_size, train_ids, val_ids, n_unseen)``: a char vocabulary from ``train_text`` plus
    :data:`UNK`; ``n_unseen`` counts held-out characters mapped to it."""
    tok = CharTokenizer(train_text, unk_token=UNK)
    n_unseen = sum(1 for ch in val_text if ch not in tok.stoi)
    as_ids = lambda text: torch.tensor(tok.encode(text), dtype=torch.long)  # noqa: E731
    return tok.vocab_size, as_ids(train_text), as_ids(val_text), n_unseen


@functools.lru_cache(maxsize=1)
def _shakespeare() -> tuple[int, Tensor, Tensor, int]:
    return encode_splits(data.shakespeare("train"), data.shakespeare("val"))


def run_rung(
    rung: int | str, seed: int, budget: Budget = Budget(), *, texts: Texts = None, on_step=None
) -> dict:
    """Train and score one rung; the seed fixes the weights and the batches. ``texts`` is
    ``(train_text, val_text)`` (default: Shakespeare's splits). Returns ``val_loss``,
    ``train_loss`` (nats/char), ``parameters``, ``wall_s`` and ``cpu_s``. ValueError: unknown
    rung or a bad budget."""
    r = rung_index(rung)
    if not isinstance(budget, Budget):
        raise ValueError(f"budget must be a gptlab.ladder.Budget, got {type(budget).__name__}.")
    vocab_size, train_ids, val_ids, _ = encode_splits(*texts) if texts else _shakespeare()
    started, cpu_started = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    b = budget
    model = LadderModel(r, vocab_size, b.n_embd, b.block_size, b.n_head, b.n_layer)
    gen = torch.Generator().manual_seed(seed)
    train_loop(
        model,
        lambda: data.random_windows(train_ids, b.batch_size, b.block_size, gen),
        lambda m, batch: m(*batch)[1],
        configure_optimizer(model, b.lr, b.weight_decay),
        lambda step: lr_schedule(step, b.lr, b.warmup, b.steps, b.min_lr),
        b.steps,
        grad_clip=b.grad_clip,
        on_step=on_step,
    )
    result = dict(rung=r, name=RUNGS[r][0], seed=seed)
    result["val_loss"] = held_out_loss(model, val_ids, b.block_size, b.eval_windows)
    result["train_loss"] = held_out_loss(model, train_ids, b.block_size, b.eval_windows)
    result |= dict(parameters=model.num_params(), wall_s=round(time.perf_counter() - started, 2))
    return result | {"cpu_s": round(time.process_time() - cpu_started, 2)}


def run_ladder(
    seeds=(0, 1, 2), budget: Budget = Budget(), progress: bool = True, *, texts: Texts = None
) -> dict:
    """Every rung with every seed: ``{"header": ..., "rungs": [...]}``. The header records
    hardware, versions, date, budget, data, wall and CPU time; each rung its per-seed ``runs``
    and ``val_mean``/``val_std``, ``train_mean``/``train_std`` (sample std over seeds)."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("Give at least one seed, e.g. seeds=(0, 1, 2).")
    vocab_size, train_ids, val_ids, n_unseen = encode_splits(*texts) if texts else _shakespeare()
    started, cpu_started = time.perf_counter(), time.process_time()
    rungs = []
    total = len(RUNGS) * len(seeds) * budget.steps
    with tqdm(total=total, unit="step", mininterval=2, disable=not progress) as bar:
        for r, (name, description) in enumerate(RUNGS):
            bar.set_description(f"ablate {r}")
            runs = [
                run_rung(r, s, budget, texts=texts, on_step=lambda _: bar.update()) for s in seeds
            ]
            row = dict(rung=r, name=name, description=description, parameters=runs[0]["parameters"])
            for split in ("val", "train"):
                losses = [run[f"{split}_loss"] for run in runs]
                row[f"{split}_mean"] = statistics.fmean(losses)
                row[f"{split}_std"] = statistics.stdev(losses) if len(losses) > 1 else 0.0
            keep = ("seed", "val_loss", "train_loss", "wall_s", "cpu_s")
            row["runs"] = [{k: run[k] for k in keep} for run in runs]
            rungs.append(row)
    hardware = dict(processor=platform.processor(), machine=platform.machine())
    hardware |= dict(cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads())
    splits = dict(corpus="custom" if texts else "shakespeare", vocab_size=vocab_size)
    splits |= dict(train_chars=len(train_ids), val_chars=len(val_ids), unseen_val_chars=n_unseen)
    splits["unseen_handling"] = f"mapped to reserved id {UNK!r}"
    header = {
        "what": "ablation ladder, chapter 07 (notebooks/07_pretraining.ipynb); nats per char",
        "hardware": hardware,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "budget": asdict(budget),
        "seeds": seeds,
        "data": splits,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "cpu_time_s": round(time.process_time() - cpu_started, 1),
    }
    return {"header": header, "rungs": rungs}


def format_table(results: dict) -> str:
    """One text table: rung, parameters, held-out and train nats/char (mean ± std), change."""
    head = f"{'#':>2} {'rung':<26}{'params':>9}  {'held-out nats/char':>18}  {'train':>15}"
    lines = [f"{head}  {'change':>7}"]
    rows = results["rungs"]
    for previous, row in zip([None, *rows], rows, strict=False):  # each rung after the one before
        change = "" if previous is None else f"{row['val_mean'] - previous['val_mean']:+.3f}"
        lines.append(
            f"{row['rung']:>2} {row['name']:<26}{row['parameters']:>9,}  "
            f"{row['val_mean']:>10.3f} ± {row['val_std']:.3f}  "
            f"{row['train_mean']:>7.3f} ± {row['train_std']:.3f}  {change:>7}"
        )
    return "\n".join(lines)


def plot(results: dict, ax=None):
    """Held-out nats/char per rung: mean ± std error bars, one dot per seed; returns the figure."""
    from gptlab.plotting import new_axes

    title = "The ablation ladder: what each part of the transformer is worth"
    ylabel = "held-out loss (nats per character)"
    ax = new_axes(title, "rung (each adds one idea to the previous)", ylabel, (8, 4), ax)
    rows = results["rungs"]
    xs = list(range(len(rows)))
    means, stds = [r["val_mean"] for r in rows], [r["val_std"] for r in rows]
    ax.errorbar(xs, means, yerr=stds, fmt="o-", capsize=4, label="mean ± std over seeds")
    for x, row in zip(xs, rows, strict=True):
        seeds = [run["val_loss"] for run in row["runs"]]
        label = "one seed" if x == 0 else None
        ax.scatter([x] * len(seeds), seeds, s=12, color="grey", alpha=0.7, zorder=3, label=label)
    ax.set_xticks(xs, [f"{r['rung']} {r['name']}" for r in rows], rotation=30, ha="right")
    ax.legend()
    ax.figure.tight_layout()
    return ax.figure


def save_results(results: dict, path: str | os.PathLike = DEFAULT_OUT) -> Path:
    """Write ``results`` as JSON atomically: a temporary file beside ``path``, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def load_results(path: str | os.PathLike = DEFAULT_OUT) -> dict:
    """Read a ladder written by :func:`save_results` (default: the committed one)."""
    return json.loads(Path(path).read_text())
