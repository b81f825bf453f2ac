"""One sub-task linear layer computed from the non-zeros of its differences to the base.

A sub-task's layer (ALGORITHMS §4) has weight ``W_sub = W_base + M⊙Δ`` and bias ``b_sub``; its
input ``x_sub`` differs from the base's input ``x_base`` of the same layer by
``δ = x_sub − x_base``. With ``y_base = W_base·x_base + b_base`` already computed by the base,

    ``y_sub = y_base + W_base·δ + (M⊙Δ)·x_sub + (b_sub − b_base)``

and entries of ``δ`` with ``|δ| < τ`` are dropped (``x_sub`` then means ``x_base`` plus the kept
``δ``). Both products run on the non-zeros only, as ``torch`` sparse CSR × dense products
added straight into ``y_base`` (``torch.addmm``):
``δ`` becomes a CSR matrix ``[tokens, d_in]`` built from its non-zero entries on every call,
``M⊙Δ`` is stored as CSR ``[d_out, d_in]`` once. Their cost is ``nnz(δ)·d_out +
nnz(M⊙Δ)·tokens`` multiply-adds instead of ``tokens·d_in·d_out``; a term without non-zeros is
skipped, so with nothing to add the result *is* ``y_base`` (bit for bit). Where the non-zeros
are so many that the sparse terms would cost more than the dense layer, the layer is computed
densely instead, ``(W_base + M⊙Δ)·x_sub + b_sub`` (at most the dense cost, never twice it).

Gathered rows/columns (``index_add_`` of weight columns), ``Tensor.to_sparse_csr()`` and
``csr @ dense`` followed by an addition were measured too and were slower on the CPU at the ViT
family's sizes (``bench/sharing_kernels.py``). Fewer FLOPs are not less time there: at
``D = 64`` a dense layer is a fast BLAS call, and building the CSR of ``δ`` and adding into
``y_base`` are passes over memory as long as it; one sub-task layer measured 1.5–3× the dense
layer's CPU time with 99% of ``δ`` dropped and 1% of ``Δ`` kept (one thread, 4096 rows).

Example:
    >>> import torch
    >>> from torch import nn
    >>> torch.manual_seed(0) and None
    >>> base = nn.Linear(8, 4)
    >>> delta = torch.zeros(4, 8); delta[1, 2] = 0.5
    >>> layer = SparseDeltaLinear.from_dense(delta, torch.zeros(4), threshold=0.1)
    >>> x_base = torch.randn(3, 8); x_sub = x_base.clone(); x_sub[0, 5] += 1.0
    >>> y, nnz = layer(x_sub, x_base, base(x_base), base.weight)
    >>> nnz, layer.nnz, layer.flops(tokens=3, activation_nnz=nnz)
    (1, 1, 14)
    >>> reference = nn.functional.linear(x_sub, base.weight + delta, base.bias)
    >>> torch.allclose(y, reference, atol=1e-6)
    True
    >>> same, _ = layer(x_base, x_base, base(x_base), base.weight)  # δ = 0: only M⊙Δ·x_base
    >>> torch.allclose(same, nn.functional.linear(x_base, base.weight + delta, base.bias))
    True
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Said once per process by torch on the first CSR tensor, not news here. A process-wide filter
# for this one message (a ``catch_warnings`` block around every construction is not
# thread-safe).
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta",
                        category=UserWarning)

def threshold_dropping(magnitudes: Tensor, fraction: float) -> float:
    """The threshold ``τ`` that drops about ``fraction`` of ``magnitudes`` (``|δ|`` values,
    any shape): the entries strictly below ``τ`` are dropped (:func:`kept_entries`).

    Rule: with ``k = ⌈fraction·n⌉``, ``τ`` is the next float above the ``k``-th smallest
    magnitude (``nextafter(value, inf)``), so that value and every entry equal to it (ties)
    are dropped; ``0.0`` (only exact zeros dropped) where ``fraction == 0``, where there are no
    magnitudes or where the ``k``-th smallest is 0 (e.g. all magnitudes 0).

    Example:
        >>> threshold_dropping(torch.tensor([0.1, 0.1, 0.1, 0.1, 1.0]), 0.5) > 0.1
        True
        >>> tau = threshold_dropping(torch.tensor([0.1, 0.1, 0.1, 0.1, 1.0]), 0.5)
        >>> kept_entries(torch.tensor([0.1, 0.1, 0.1, 0.1, 1.0]), tau).tolist()
        [False, False, False, False, True]
        >>> threshold_dropping(torch.tensor([3.0, 1.0, 2.0, 4.0]), 0.5) == float(
        ...     torch.nextafter(torch.tensor(2.0), torch.tensor(math.inf)))
        True
        >>> threshold_dropping(torch.zeros(3), 0.9), threshold_dropping(torch.ones(3), 0.0)
        (0.0, 0.0)
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"a fraction to drop must be in [0, 1], got {fraction!r}")
    flat = magnitudes.detach().reshape(-1)
    count = math.ceil(fraction * flat.numel())
    if count == 0:
        return 0.0
    value = flat.kthvalue(count).values
    if not value > 0:
        return 0.0
    return float(torch.nextafter(value, value.new_tensor(math.inf)))


def kept_entries(delta: Tensor, threshold: float) -> Tensor:
    """The mask of the entries of ``delta`` that are kept under threshold ``τ``:
    ``|δ| >= τ`` where ``τ > 0``, else the non-zeros (``τ = 0`` keeps every changed entry).

    Example:
        >>> kept_entries(torch.tensor([0.0, -0.5, 0.2]), 0.3).tolist()
        [False, True, False]
        >>> kept_entries(torch.tensor([0.0, -0.5, 0.2]), 0.0).tolist()
        [False, True, True]
    """
    return delta.abs() >= threshold if threshold > 0 else delta != 0


def csr_of_nonzeros(matrix: Tensor, keep: Tensor,
                    row_counts: Tensor | None = None) -> tuple[Tensor, int]:
    """The CSR matrix of ``matrix``'s entries where ``keep`` is true (both 2-D, same shape),
    and how many there are. ``row_counts`` (``keep.sum(1)``), where the caller has it already,
    is not counted again.

    Built from the flat indices of the kept entries (``nonzero`` of the mask): measured faster
    on the CPU than ``Tensor.to_sparse_csr()`` for the ViT's activations.

    Example:
        >>> m = torch.tensor([[0.0, 2.0], [3.0, 0.0], [0.0, 0.0]])
        >>> csr, nnz = csr_of_nonzeros(m, m != 0)
        >>> nnz, csr.crow_indices().tolist(), csr.col_indices().tolist()
        (2, [0, 1, 2, 2], [1, 0])
    """
    rows, cols = matrix.shape
    flat = keep.reshape(-1).nonzero().squeeze(1)
    crow = torch.zeros(rows + 1, dtype=torch.int64, device=matrix.device)
    torch.cumsum(keep.sum(1) if row_counts is None else row_counts, 0, out=crow[1:])
    values = matrix.reshape(-1)[flat]
    return _csr(crow, flat % cols, values, (rows, cols)), int(flat.numel())


def add_kept_product(y: Tensor, delta: Tensor, keep: Tensor, weight: Tensor,
                     row_counts: Tensor | None = None) -> tuple[Tensor, int]:
    """``y + δ_kept · weightᵀ`` and ``nnz(δ_kept)``: ``δ`` ``[tokens, d_in]`` restricted to
    ``keep`` as a sparse CSR matrix, multiplied on its non-zeros only and added straight into
    ``y`` ``[tokens, d_out]`` (``torch.addmm``: a new tensor). Without kept entries the result
    is ``y`` itself. ``row_counts`` as in :func:`csr_of_nonzeros`.

    Example:
        >>> w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> delta = torch.tensor([[0.5, 0.01]])
        >>> y, nnz = add_kept_product(torch.zeros(1, 2), delta, kept_entries(delta, 0.1), w)
        >>> y.tolist(), nnz
        ([[0.5, 1.5]], 1)
    """
    csr, nnz = csr_of_nonzeros(delta, keep, row_counts)
    if not nnz:
        return y, 0
    return torch.addmm(y, csr, weight.t()), nnz


def _csr(crow: Tensor, col: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    # the indices are built here, valid by construction: invariant checks opted out explicitly
    return torch.sparse_csr_tensor(crow, col, values, size, check_invariants=False)


class SparseDeltaLinear(nn.Module):
    """A sub-task's part of one linear layer: ``M⊙Δ`` as CSR (indices and values), the bias
    difference ``b_sub − b_base`` and the activation threshold ``τ``.

    Buffers ``crow`` (``d_out + 1`` row pointers), ``col`` and ``values`` (``nnz`` each) hold
    ``M⊙Δ``; a layer without non-zeros stores none of them (empty buffers). ``bias_delta``
    is empty where the biases are equal. They move with ``.to(device)``.

    ``forward(x_sub, x_base, y_base, weight_base)`` returns the sub-task's output and
    ``nnz(δ)``, the number of activation differences that were computed.
    """

    crow: Tensor
    col: Tensor
    values: Tensor
    bias_delta: Tensor

    def __init__(self, crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int],
                 bias_delta: Tensor | None = None, threshold: float = 0.0):
        super().__init__()
        if not threshold >= 0:
            raise ValueError(f"an activation threshold must be >= 0, got {threshold}")
        if values.numel() and crow.numel() != shape[0] + 1:
            raise ValueError(f"a CSR delta of shape {shape} needs {shape[0] + 1} row pointers, "
                             f"got {crow.numel()}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.threshold = float(threshold)
        empty = values.numel() == 0
        self.register_buffer("crow", crow.new_zeros(0) if empty else crow.to(torch.int64))
        self.register_buffer("col", col.new_zeros(0) if empty else col.to(torch.int64))
        self.register_buffer("values", values)
        bias = values.new_zeros(0) if bias_delta is None or not bias_delta.any() else bias_delta
        self.register_buffer("bias_delta", bias.detach().clone())
        # M⊙Δ as a CSR tensor and densely (for the dense fallback), built on first use from the
        # buffers and dropped when they move or are loaded (_apply, _load_from_state_dict)
        self._weight_csr: Tensor | None = None
        self._weight_dense: Tensor | None = None

    def _clear_cache(self) -> None:
        self._weight_csr = self._weight_dense = None

    def __getstate__(self) -> dict[str, Any]:
        # copies and pickles leave the caches out (a CSR tensor cannot be deep-copied)
        return {**super().__getstate__(), "_weight_csr": None, "_weight_dense": None}

    def _apply(self, fn: Any, recurse: bool = True) -> SparseDeltaLinear:
        self._clear_cache()
        return super()._apply(fn, recurse)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._clear_cache()
        super()._load_from_state_dict(*args, **kwargs)

    def _csr_weight(self) -> Tensor:
        """``M⊙Δ`` as a CSR tensor over the buffers (cached)."""
        if self._weight_csr is None:
            self._weight_csr = _csr(self.crow, self.col, self.values, self.shape)
        return self._weight_csr

    def _dense_weight(self) -> Tensor:
        """``M⊙Δ`` dense (cached; callers must not modify it)."""
        if self._weight_dense is None:
            self._weight_dense = self.weight_delta()
        return self._weight_dense

    @classmethod
    def from_dense(cls, weight_delta: Tensor, bias_delta: Tensor | None = None,
                   threshold: float = 0.0) -> SparseDeltaLinear:
        """From a dense ``M⊙Δ`` ``[d_out, d_in]`` (zero outside the mask): only its non-zeros
        are kept."""
        delta = weight_delta.detach()
        csr, _ = csr_of_nonzeros(delta, delta != 0)  # its values are a new tensor already
        return cls(csr.crow_indices(), csr.col_indices(), csr.values(),
                   (delta.shape[0], delta.shape[1]), bias_delta, threshold)

    @property
    def nnz(self) -> int:
        """Non-zero entries of ``M⊙Δ``."""
        return int(self.values.numel())

    @property
    def index_entries(self) -> int:
        """Stored index entries of ``M⊙Δ``: its column indices and row pointers."""
        return int(self.col.numel() + self.crow.numel())

    def weight_delta(self) -> Tensor:
        """``M⊙Δ`` as a dense ``[d_out, d_in]`` tensor (zero outside the mask)."""
        if not self.nnz:
            return self.values.new_zeros(self.shape)
        return _csr(self.crow, self.col, self.values, self.shape).to_dense()

    def sparse_flops(self, tokens: int, activation_nnz: int) -> int:
        """FLOPs (2 per multiply-add) of the two sparse products on ``tokens`` rows whose ``δ``
        kept ``activation_nnz`` entries."""
        return 2 * activation_nnz * self.shape[0] + 2 * self.nnz * tokens

    def dense_flops(self, tokens: int) -> int:
        """FLOPs of the dense layer on ``tokens`` rows."""
        return 2 * tokens * self.shape[0] * self.shape[1]

    def computes_dense(self, tokens: int, activation_nnz: int) -> bool:
        """Whether a call computes the layer densely (its sparse terms would cost more)."""
        return self.sparse_flops(tokens, activation_nnz) > self.dense_flops(tokens)

    def flops(self, tokens: int, activation_nnz: int) -> int:
        """FLOPs of one call on ``tokens`` rows whose ``δ`` kept ``activation_nnz`` entries:
        the sparse products' or, where those would cost more, the dense layer's."""
        return min(self.sparse_flops(tokens, activation_nnz), self.dense_flops(tokens))

    def forward(self, x_sub: Tensor, x_base: Tensor, y_base: Tensor, weight_base: Tensor,
                bias_sub: Tensor | None = None) -> tuple[Tensor, int]:
        """The sub-task's output of the layer and ``nnz(δ)``. ``bias_sub`` (the sub-task's
        bias) is what the dense fallback adds; without it the sparse terms always run."""
        d_out, d_in = self.shape
        delta = (x_sub - x_base).reshape(-1, d_in)
        keep = kept_entries(delta, self.threshold)
        row_counts = keep.sum(1)
        activation_nnz = int(row_counts.sum())
        tokens = delta.shape[0]
        dense = bias_sub is not None and self.computes_dense(tokens, activation_nnz)
        # x_sub as the sub-task sees it: x_base plus the kept differences only.
        x = x_sub if self.threshold == 0 or not (dense or self.nnz) else torch.where(
            keep.reshape(x_sub.shape), x_sub, x_base)
        if dense:
            return F.linear(x, weight_base + self._dense_weight(), bias_sub), activation_nnz
        if not (self.nnz or activation_nnz or self.bias_delta.numel()):
            return y_base, 0  # nothing to add: the base's output itself, bit for bit
        base = y_base.reshape(-1, d_out)
        # The products are added into a new result with addmm / in place (addmm_): measured
        # several times faster on the CPU than `csr @ dense` (which zero-fills another new
        # tensor) followed by additions, whose fresh memory costs more than the products here.
        y, _ = add_kept_product(base, delta, keep, weight_base, row_counts)
        if not activation_nnz:
            y = base.clone()  # a new tensor: the terms below are added in place
        if self.nnz:
            y.t().addmm_(self._csr_weight(), x.reshape(-1, d_in).t())  # yᵀ += (M⊙Δ)·xᵀ, in place
        if self.bias_delta.numel():
            y += self.bias_delta
        return y.reshape(y_base.shape), activation_nnz

    def extra_repr(self) -> str:
        return f"shape={self.shape}, nnz={self.nnz}, threshold={self.threshold:g}"
