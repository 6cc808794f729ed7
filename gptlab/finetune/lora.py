"""Low-rank adapters (LoRA) written from scratch, after Hu et al. (ICLR 2022). See chapter 11.

A frozen weight ``W`` ``(out, in)`` gets a trainable update ``W' = W + (alpha / r) * B @ A``
with ``A`` ``(r, in)`` and ``B`` ``(out, r)``, ``B`` zero at the start; :func:`merge_lora`
folds ``B @ A`` back into ``W``."""

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gptlab.train import count_trainable  # noqa: F401  (re-exported for chapter 11)
from gptlab.utils import tr


def _check_hyperparameters(r: int, alpha: float, dropout: float) -> None:
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"the LoRA rank r must be an integer >= 1 (often 4, 8 or 16), got {r!r}.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"alpha must be > 0 (the update is scaled by alpha / r), got {alpha!r}.")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``(..., in) -> (..., out)``.

    ``forward(x) = base(x) + (dropout(x) @ A^T @ B^T) * alpha / r``, never materialising
    ``B @ A``. ``base`` is frozen and shared, not copied. ``init`` draws ``A``: ``"kaiming"``
    (uniform in ``±1/sqrt(in)``, as ``nn.Linear`` and ``peft``) or ``"gaussian"`` (std
    ``1/r``). Attributes ``lora_A`` ``(r, in)``, ``lora_B`` ``(out, r)``, ``scaling``.
    Raises ValueError for a ``base`` that is not an ``nn.Linear`` or a bad hyperparameter."""

    def __init__(
        self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0,
        init: str = "kaiming",
    ) -> None:  # fmt: skip
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(f"LoRALinear adapts an nn.Linear, not a {type(base).__name__}.")
        _check_hyperparameters(r, alpha, dropout)
        if init not in ("kaiming", "gaussian"):
            raise ValueError(f"init must be 'kaiming' or 'gaussian', got {init!r}.")
        self.base = base.requires_grad_(False)
        self.r, self.alpha, self.init = r, float(alpha), init
        self.scaling = self.alpha / r
        like = {"dtype": base.weight.dtype, "device": base.weight.device}
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **like))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **like))
        self.lora_dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        with torch.no_grad():
            if init == "kaiming":
                nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            else:
                nn.init.normal_(self.lora_A, std=1.0 / r)

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: Tensor) -> Tensor:
        # (..., in) @ (in, r) -> (..., r) @ (r, out) -> (..., out)
        update = (self.lora_dropout(x) @ self.lora_A.T) @ self.lora_B.T
        return self.base(x) + update * self.scaling

    def delta_weight(self) -> Tensor:
        """The change to the weight: ``scaling * B @ A``, shape ``(out, in)``."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def merge(self) -> nn.Linear:
        """A new plain ``nn.Linear`` with weight ``W + scaling * B @ A``, the same bias and the
        base layer's ``requires_grad`` flags; equal to this module in eval mode."""
        base, w = self.base, self.base.weight
        has_bias = base.bias is not None
        merged = nn.Linear(self.in_features, self.out_features, has_bias, w.device, w.dtype)
        with torch.no_grad():
            merged.weight.copy_(w + self.delta_weight())
            if has_bias:
                merged.bias.copy_(base.bias)
        for name, p in base.named_parameters():
            getattr(merged, name).requires_grad_(p.requires_grad)
        return merged

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
            f"alpha={self.alpha:g}, scaling={self.scaling:g}"
        )


def _short_names(names: list[str]) -> list[str]:
    """``h.3.attn.c_attn`` -> ``attn.c_attn``: the distinct names without the layer number."""
    parts = [n.split(".") for n in names]
    short = [".".join(p[-2:]) if len(p) >= 2 and not p[-2].isdigit() else p[-1] for p in parts]
    return list(dict.fromkeys(short))


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def apply_lora(
    model: nn.Module, targets: str | Sequence[str] = ("c_attn",), r: int = 8, alpha: float = 16.0,
    dropout: float = 0.0, init: str = "kaiming",
) -> nn.Module:  # fmt: skip
    """Wrap the ``nn.Linear`` layers named by ``targets`` in :class:`LoRALinear`, in place;
    return ``model``, in which only the LoRA matrices have ``requires_grad=True``. A module is
    a target when its name equals a target or ends with ``"." + target`` (``"c_proj"`` selects
    ``attn.c_proj`` and ``mlp.c_proj``). ValueError for a bad hyperparameter, no targets, a
    target that matches no module (the message lists the Linear ones), is not an ``nn.Linear``
    or is already adapted, or a Linear whose weight is tied to another (GPT's ``lm_head``)."""
    _check_hyperparameters(r, alpha, dropout)
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    if not targets or not all(isinstance(t, str) and t for t in targets):
        raise ValueError(
            f"targets must be a module name or a non-empty sequence of names, got {targets!r}."
        )
    modules = dict(model.named_modules())
    inside = {f"{n}.base" for n in lora_layers(model)}  # frozen layers inside an adapter
    linear_names = [n for n, m in modules.items() if isinstance(m, nn.Linear) and n not in inside]
    available = tr("the model has no nn.Linear modules")
    if linear_names:
        short = ", ".join(_short_names(linear_names))
        available = tr("available Linear modules: {short} (full names like {first!r})").format(
            short=short, first=linear_names[0]
        )
    chosen: dict[str, nn.Linear] = {}
    for target in targets:
        hits = [n for n in modules if n and (n == target or n.endswith("." + target))]
        if not hits:
            unknown = tr("no module of the model is named {t!r}; {available}.")
            raise ValueError(unknown.format(t=target, available=available))
        for name in hits:
            module = modules[name]
            if isinstance(module, LoRALinear):
                raise ValueError(
                    f"{name!r} already has a LoRA adapter; call merge_lora(model) first to fold "
                    "it in, or adapt the model only once."
                )
            if not isinstance(module, nn.Linear):
                kind = type(module).__name__
                raise ValueError(tr(
                    "target {t!r} matches {name!r}, a {kind}, not an nn.Linear: LoRA adapts "
                    "Linear layers; {available}."
                ).format(t=target, name=name, kind=kind, available=available))  # fmt: skip
            if name in inside:
                continue
            params = model.named_parameters(remove_duplicate=False)
            if sum(p is module.weight for _, p in params) > 1:
                raise ValueError(tr(
                    "{name!r} shares its weight matrix with another module (weight tying, as "
                    "GPT's lm_head with wte); an adapter would untie them when merged."
                ).format(name=name))  # fmt: skip
            chosen[name] = module

    model.requires_grad_(False)
    for name, linear in chosen.items():
        _set_submodule(model, name, LoRALinear(linear, r, alpha, dropout, init))
    for p in lora_parameters(model):
        p.requires_grad_(True)
    return model


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """The :class:`LoRALinear` modules of ``model`` by name (empty when there are none)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every ``lora_A`` and ``lora_B`` of ``model``, in module order (what the optimizer needs)."""
    return [p for layer in lora_layers(model).values() for p in (layer.lora_A, layer.lora_B)]


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` by its merged ``nn.Linear``, in place; returns ``model``.
    The merged layers keep ``requires_grad=False`` like the rest of the frozen model."""
    for name, layer in list(lora_layers(model).items()):
        _set_submodule(model, name, layer.merge())
    return model
