"""gptlab: the helper package of the gptlab course.

The notebooks build every idea from scratch first; this package keeps the result so that
later chapters can import it. Modules are named after what they hold:

- :mod:`gptlab.data`        corpora (Shakespeare, Python docs, dialogues), cache, batching
- :mod:`gptlab.metrics`     perplexity, bits per character, exact match of answers
- :mod:`gptlab.bigram`      the counting bigram baseline (chapter 01)
- :mod:`gptlab.tokenizers`  byte-level BPE from scratch and the real GPT-2 tokenizer
- :mod:`gptlab.attention`   scaled dot-product attention and multi-head attention
- :mod:`gptlab.position`    sinusoidal position encodings and RoPE
- :mod:`gptlab.model`       the GPT-2-compatible model and Hugging Face conversion
- :mod:`gptlab.counting`    parameter, FLOP and memory arithmetic
- :mod:`gptlab.train`       the pretraining loop (AdamW, schedule, checkpoints, DDP)
- :mod:`gptlab.ladder`      the ablation ladder: what each part of the transformer is worth
- :mod:`gptlab.checkpoint`  atomic checkpoints (safetensors + JSON)
- :mod:`gptlab.reference`   the shipped reference model behind ``gptlab.pretrained()``
- :mod:`gptlab.generate`    sampling strategies with a KV cache
- :mod:`gptlab.bench`       benchmarks against Hugging Face transformers
- :mod:`gptlab.finetune`    classification heads, instruction tuning, LoRA
- :mod:`gptlab.tasks`       instruction tasks derived from the Shakespeare corpus
- :mod:`gptlab.hf`          export to and loading from Hugging Face folders
- :mod:`gptlab.evaluate`    perplexity tables, prompting, BLEU and ROUGE
- :mod:`gptlab.interpret`   attention maps, residual stream, logit lens, head ablation
- :mod:`gptlab.plotting`    shared figure helpers
- :mod:`gptlab.exercises`   self-checking exercises, one module per chapter
- :mod:`gptlab.checkup`     the setup check behind ``gptlab.doctor()``
- :mod:`gptlab.cli`         the ``gptlab`` command (doctor, data, pretrain, generate, bench)
- :mod:`gptlab.utils`       seeding and device selection

Submodules are imported lazily so that ``import gptlab`` stays fast. Authoring tools (the
workshop's learner edition, packaging a reference model) live in ``tools/``, outside it.
"""

import importlib
import pkgutil
import warnings
from typing import Any

# transformers imports tqdm.auto, which warns in a notebook without ipywidgets. We want plain
# text progress bars (widgets would need JavaScript from a CDN on the website), so the
# warning says nothing useful here.
warnings.filterwarnings("ignore", message="IProgress not found")
# peft (chapter 11) asks a model a question that transformers 5 renamed; harmless here.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)

__version__ = "0.2.0"

_SUBMODULES = {module.name for module in pkgutil.iter_modules(__path__)}

# Top-level helpers, loaded on first use: name -> module that holds it.
_FUNCTIONS = {
    "doctor": "checkup", "pretrained": "reference",
    "seed_everything": "utils", "get_device": "utils",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"gptlab.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"gptlab.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'gptlab' has no attribute {name!r}")


__all__ = ["__version__", *sorted(_FUNCTIONS), *sorted(_SUBMODULES)]
