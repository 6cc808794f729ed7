"""Low-rank adapters (LoRA) written from scratch, after Hu et al., "LoRA: Low-Rank Adaptation
of Large Language Models" (ICLR 2022).

Full fine-tuning changes every entry of a weight matrix ``W`` of shape ``(out, in)``. LoRA
keeps ``W`` frozen and learns the change as a product of two thin matrices::

    W' = W + (alpha / r) * B @ A        A: (r, in)   B: (out, r)   r << min(in, out)

so a layer gains ``r * (in + out)`` trainable numbers instead of ``in * out``. ``B`` starts
at zero, so the adapted model computes exactly what the pretrained model computed until the
first optimizer step. After training, ``B @ A`` can be added into ``W`` once
(:func:`merge_lora`) and the model is a plain model again, with no extra cost at inference.

Shape letters: ``B`` batch and ``T`` time appear only as the leading ``...`` of inputs; ``in``
and ``out`` are a Linear layer's ``in_features`` and ``out_features``; ``r`` the rank.

Typical use::

    from gptlab.finetune.lora import apply_lora, count_trainable, merge_lora

    apply_lora(model, targets=("c_attn",), r=8, alpha=16)   # in place; freezes the rest
    ...train with gptlab.train.train_loop (only the adapters are trainable)...
    merge_lora(model)                                       # plain nn.Linear layers again
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from gptlab.train import count_trainable  # noqa: F401  (re-exported for chapter 11)

__all__ = [
    "LoRALinear",
    "apply_lora",
    "merge_lora",
    "lora_parameters",
    "count_trainable",
    "lora_layers",
]


def _check_hyperparameters(r: int, alpha: float, dropout: float) -> None:
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(
            f"the LoRA rank r must be a positive integer (r >= 1), got r={r!r}; typical values "
            f"are 4, 8 or 16."
        )
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(
            f"alpha must be a positive number (the update is scaled by alpha / r), got {alpha!r}."
        )
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, (int, float))
        or not 0.0 <= dropout < 1.0
    ):
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``(..., in) -> (..., out)``.

    ``forward(x) = base(x) + (dropout(x) @ A^T @ B^T) * scaling`` with ``scaling = alpha / r``.
    The update is computed through the rank-``r`` bottleneck (two thin matmuls) and never
    materialises the ``(out, in)`` matrix ``B @ A``.

    Args:
        base: the layer to adapt, weight ``(out, in)``; its parameters are frozen
            (``requires_grad=False``) and shared, not copied.
        r: rank of the update, ``r >= 1``.
        alpha: the update is multiplied by ``alpha / r``, so that changing ``r`` does not change
            the size of the initial steps much (Hu et al. 2022, section 4.1).
        dropout: dropout probability on the input of the update path (training mode only).
        init: how to initialise ``A``: ``"kaiming"`` (the default: Kaiming-uniform with
            ``a = sqrt(5)``, i.e. uniform in ``±1/sqrt(in)``, the default init of ``nn.Linear``
            and of ``peft``) or ``"gaussian"`` (normal with std ``1/r``, the ``peft`` option of
            that name). ``B`` always starts at zero.

    Attributes:
        lora_A: ``(r, in)`` trainable.
        lora_B: ``(out, r)`` trainable, zeros at the start.
        scaling: ``alpha / r``.
    """

    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.0,
        init: str = "kaiming",
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(
                f"LoRALinear wraps an nn.Linear, got {type(base).__name__}; LoRA here adapts "
                f"weight matrices of Linear layers only."
            )
        _check_hyperparameters(r, alpha, dropout)
        if init not in ("kaiming", "gaussian"):
            raise ValueError(f"init must be 'kaiming' or 'gaussian', got {init!r}.")
        self.base = base
        self.base.requires_grad_(False)
        self.r = r
        self.alpha = float(alpha)
        self.scaling = self.alpha / r
        self.init = init
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(
            torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device)
        )
        self.lora_dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.reset_lora_parameters()

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def reset_lora_parameters(self) -> None:
        """Re-draw ``A`` and set ``B`` to zero (the layer is then exactly ``base`` again)."""
        with torch.no_grad():
            if self.init == "kaiming":
                nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            else:
                nn.init.normal_(self.lora_A, std=1.0 / self.r)
            nn.init.zeros_(self.lora_B)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(..., in)`` -> ``(..., out)``: the frozen layer plus the scaled update."""
        # (..., in) @ (in, r) -> (..., r) @ (r, out) -> (..., out)
        update = (self.lora_dropout(x) @ self.lora_A.T) @ self.lora_B.T
        return self.base(x) + update * self.scaling

    def delta_weight(self) -> Tensor:
        """The change this adapter makes to the weight: ``scaling * B @ A``, shape ``(out, in)``."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def merge(self) -> nn.Linear:
        """A new plain ``nn.Linear`` with weight ``W + scaling * B @ A`` and the same bias.

        The result computes the same function as this module in eval mode (up to float
        rounding). Its parameters keep the base layer's ``requires_grad`` flags.
        """
        base = self.base
        merged = nn.Linear(
            base.in_features,
            base.out_features,
            bias=base.bias is not None,
            device=base.weight.device,
            dtype=base.weight.dtype,
        )
        with torch.no_grad():
            merged.weight.copy_(base.weight + self.delta_weight())
            if base.bias is not None:
                merged.bias.copy_(base.bias)
        merged.weight.requires_grad_(base.weight.requires_grad)
        if base.bias is not None:
            merged.bias.requires_grad_(base.bias.requires_grad)
        return merged

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
            f"alpha={self.alpha:g}, scaling={self.scaling:g}"
        )


# ---------------------------------------------------------------------------------------------
# Whole models
# ---------------------------------------------------------------------------------------------


def _matches(name: str, target: str) -> bool:
    """``h.0.attn.c_attn`` matches the targets ``c_attn``, ``attn.c_attn`` and itself."""
    return name == target or name.endswith("." + target)


def _linear_names(model: nn.Module) -> list[str]:
    """Names of the adaptable ``nn.Linear`` modules (not the ones inside a LoRALinear)."""
    inside = {f"{n}.base" for n, m in model.named_modules() if isinstance(m, LoRALinear)}
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n not in inside]


def _short_names(names: Iterable[str]) -> list[str]:
    """``h.3.attn.c_attn`` -> ``attn.c_attn``: the distinct names without the layer number."""
    out: list[str] = []
    for n in names:
        parts = n.split(".")
        short = ".".join(parts[-2:]) if len(parts) >= 2 and not parts[-2].isdigit() else parts[-1]
        if short not in out:
            out.append(short)
    return out


def _shares_weight(model: nn.Module, linear: nn.Linear) -> bool:
    """Whether ``linear.weight`` is also used by another module (weight tying)."""
    count = sum(1 for _, p in model.named_parameters(remove_duplicate=False) if p is linear.weight)
    return count > 1


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def apply_lora(
    model: nn.Module,
    targets: str | Sequence[str] = ("c_attn",),
    r: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
    init: str = "kaiming",
) -> nn.Module:
    """Wrap the ``nn.Linear`` layers named by ``targets`` in :class:`LoRALinear`, in place.

    A module is a target when its name equals a target or ends with ``"." + target``: with a
    GPT, ``"c_attn"`` selects ``h.*.attn.c_attn``, ``"c_proj"`` selects both ``attn.c_proj``
    and ``mlp.c_proj``, ``"attn.c_proj"`` only the attention one. Afterwards every parameter
    that is not a LoRA matrix has ``requires_grad=False`` (to train something else too, such
    as a new classification head, set its ``requires_grad`` back to True yourself).

    Args:
        model: any module, e.g. a :class:`gptlab.model.GPT`.
        targets: one name or several (``("c_attn", "c_proj", "c_fc")`` is every Linear of a
            GPT block).
        r, alpha, dropout, init: see :class:`LoRALinear`.

    Returns:
        ``model`` itself (changed in place), for chaining.

    Raises:
        ValueError: ``r < 1`` or another bad hyperparameter; no targets; a target that matches
            no module (the message lists the Linear module names there are); a target that
            names a module that is not an ``nn.Linear`` (or is already adapted); a Linear whose
            weight is tied to another module (GPT's ``lm_head`` shares ``wte``'s matrix).
    """
    _check_hyperparameters(r, alpha, dropout)
    if isinstance(targets, str):
        targets = (targets,)
    targets = tuple(targets)
    if not targets or not all(isinstance(t, str) and t for t in targets):
        raise ValueError(
            f"targets must be a module name or a non-empty sequence of names, got {targets!r}."
        )

    linear_names = _linear_names(model)
    available = (
        f"available Linear modules: {', '.join(_short_names(linear_names))} "
        f"(full names like {linear_names[0]!r})"
        if linear_names
        else "the model has no nn.Linear modules"
    )
    modules = dict(model.named_modules())
    chosen: list[str] = []
    for target in targets:
        hits = [n for n in modules if n and _matches(n, target)]
        if not hits:
            raise ValueError(f"no module of the model is named {target!r}; {available}.")
        for name in hits:
            module = modules[name]
            if isinstance(module, LoRALinear):
                raise ValueError(
                    f"{name!r} already has a LoRA adapter; call merge_lora(model) first to fold "
                    f"it in, or adapt the model only once."
                )
            if not isinstance(module, nn.Linear):
                raise ValueError(
                    f"target {target!r} matches {name!r}, a {type(module).__name__}, not an "
                    f"nn.Linear; LoRA adapts Linear layers. {available[0].upper()}{available[1:]}."
                )
            if name.endswith(".base") and isinstance(modules.get(name[:-5]), LoRALinear):
                continue  # the frozen layer inside an adapter is not a separate target
            if _shares_weight(model, module):
                raise ValueError(
                    f"{name!r} shares its weight matrix with another module (weight tying, as "
                    f"GPT's lm_head with wte); an adapter on it would untie them when merged. "
                    f"Choose other targets."
                )
            if name not in chosen:
                chosen.append(name)

    model.requires_grad_(False)
    for name in chosen:
        _set_submodule(
            model, name, LoRALinear(modules[name], r=r, alpha=alpha, dropout=dropout, init=init)
        )
    for p in lora_parameters(model):
        p.requires_grad_(True)
    return model


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """The :class:`LoRALinear` modules of ``model`` by name (empty when there are none)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every ``lora_A`` and ``lora_B`` of ``model``, in module order (what the optimizer needs)."""
    params: list[nn.Parameter] = []
    for layer in lora_layers(model).values():
        params += [layer.lora_A, layer.lora_B]
    return params


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` by its merged ``nn.Linear`` (``W + scaling * B @ A``).

    Works in place and returns ``model``. The merged model has no LoRA modules and computes
    the same function (in eval mode, up to float rounding); a GPT can then be exported with
    ``to_hf()`` again. The merged layers keep ``requires_grad=False`` like the rest of the
    frozen model; call ``model.requires_grad_(True)`` to train every weight again.
    """
    for name, layer in list(lora_layers(model).items()):
        _set_submodule(model, name, layer.merge())
    return model
