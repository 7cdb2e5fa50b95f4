"""Output layer and cross-entropy in one pass over row chunks: the training loss of a model whose
vocabulary is large (a translation model's 10,000+ target words).

``F.cross_entropy(F.linear(h, W, b), target)`` keeps several (N, V) buffers alive and walks them
one operation at a time: the logits, their float32 copy under bfloat16 autocast, the
log-probabilities, then in the backward pass a zero-filled gradient, the smoothing term's, the
log-softmax's and the cast back. With N = 2,000 target tokens and V = 10,000 words each buffer is
80 MB, far larger than the caches, and those passes cost as much as the products themselves.
Here each chunk of rows goes through logits -> loss -> gradient of the logits while it is small
enough to stay in cache, and the gradients of ``h``, ``W`` and ``b`` are finished in the forward
pass (the loss is a scalar, so the backward pass only scales them).

The arithmetic is the unfused one's: logits in the compute dtype (bfloat16 under autocast, as
``F.linear`` would give), softmax and loss in float32, the gradient of the logits cast back to the
compute dtype for the two products of the backward pass. Under float16 that gradient and its two
products stay in float32: they are formed here, before a gradient scaler has scaled them, and
float16's range would flush the small ones to zero.

Because the gradients are finished in the forward pass, the backward pass is not itself
differentiable. Where a gradient of the gradient is asked for (``create_graph=True``: a gradient
penalty, a Hessian-vector product) the backward pass instead replays the unfused loss from the
saved inputs under autograd; under ``torch.func`` transforms and forward-mode AD the unfused loss
runs from the start.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .backend import forward_ad, transformed

CHUNK_ELEMENTS = 1 << 20  # logits per chunk (4 MB in float32): fits in this CPU's caches


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, target: torch.Tensor,
                         label_smoothing: float = 0.0, chunk_rows: int | None = None) -> torch.Tensor:
    """Mean of ``F.cross_entropy(F.linear(hidden, weight, bias), target, label_smoothing=...)``.

    Args:
        hidden: (N, H) the rows to classify (padding already removed).
        weight, bias: (V, H) and (V,) or ``None``, the output layer's parameters.
        target: (N,) class ids in ``[0, V)``.
        label_smoothing: as torch's: the target distribution is ``(1 - eps) * one_hot + eps / V``.
        chunk_rows: rows per chunk (default: about 2**20 logits per chunk).

    Returns:
        The scalar loss (float32; float64 for float64 inputs), differentiable with respect to
        ``hidden``, ``weight`` and ``bias``.
    """
    if hidden.dim() != 2 or target.shape != hidden.shape[:1]:
        raise ValueError(f"need hidden (N, H) and target (N,); got {tuple(hidden.shape)} and {tuple(target.shape)}")
    if hidden.shape[0] == 0:
        raise ValueError("no rows to score: every target position is padding")
    if int(target.min()) < 0 or int(target.max()) >= weight.shape[0]:
        raise ValueError(f"target ids must lie in [0, {weight.shape[0]}) (the output layer's size); got "
                         f"{int(target.min())}..{int(target.max())}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1]; got {label_smoothing}")
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise ValueError(f"chunk_rows must be a positive integer or None; got {chunk_rows!r}")
    device = hidden.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
    if transformed() or forward_ad():  # torch.func, dual tensors: the Function has no rules for them
        return _unfused(hidden, weight, bias, target, float(label_smoothing), dtype)
    rows = chunk_rows or max(1, CHUNK_ELEMENTS // weight.shape[0])
    # Under no_grad ``needs_input_grad`` still reflects requires_grad, so the mode is passed along:
    # evaluation computes the loss alone.
    return _LinearCrossEntropy.apply(hidden, weight, bias, target, float(label_smoothing), rows, dtype,
                                     torch.is_grad_enabled())


def _unfused(hidden, weight, bias, target, eps: float, dtype) -> torch.Tensor:
    """The same loss in plain differentiable ops, in the same dtypes (logits in ``dtype``, the
    softmax and the loss in float32 at least)."""
    with torch.autocast(hidden.device.type, enabled=False):
        wide = torch.promote_types(dtype, torch.float32)
        z = F.linear(hidden.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)).to(wide)
        return F.cross_entropy(z, target, label_smoothing=eps)


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, target, eps, rows, dtype, grad_enabled):
        wants = [grad_enabled and w for w in ctx.needs_input_grad[:3]]
        need_grad = any(wants)
        with torch.autocast(hidden.device.type, enabled=False):
            h, w = hidden.to(dtype), weight.to(dtype)
            b = None if bias is None else bias.to(dtype)
            N, V = h.shape[0], w.shape[0]
            wide = torch.promote_types(dtype, torch.float32)  # softmax and sums: float32 at least
            grad_dtype = wide if dtype == torch.float16 else dtype  # (see the module's docstring)
            total = torch.zeros((), dtype=torch.float64, device=h.device)
            grad_logits = torch.empty(N, V, dtype=grad_dtype, device=h.device) if need_grad else None
            grad_bias = torch.zeros(V, dtype=wide, device=h.device) if wants[2] else None
            for start in range(0, N, rows):
                t = target[start : start + rows].unsqueeze(1)
                z = F.linear(h[start : start + rows], w, b).to(wide)  # (n, V), in cache from here on
                # -sum_j q_j log p_j with q = (1 - eps) one_hot + eps / V  =  lse - sum_j q_j z_j
                loss = -(1.0 - eps) * z.gather(1, t).squeeze(1)
                if eps:
                    loss -= (eps / V) * z.sum(dim=1)
                peak = z.amax(dim=1, keepdim=True)
                p = z.sub_(peak).exp_()  # z is overwritten: one exp pass serves the loss and the gradient
                mass = p.sum(dim=1, keepdim=True)
                loss += (peak + mass.log()).squeeze(1)  # + logsumexp(z)
                total += loss.sum(dtype=torch.float64)
                if need_grad:  # d loss / d z = (softmax(z) - q) / N, written straight into the buffer
                    p.div_(mass * N)
                    if eps:
                        p.sub_(eps / (V * N))
                    p.scatter_add_(1, t, torch.full(t.shape, (eps - 1.0) / N, dtype=p.dtype, device=p.device))
                    grad_logits[start : start + rows] = p
                    if grad_bias is not None:
                        grad_bias += p.sum(dim=0)
            if need_grad:
                ctx.save_for_backward(grad_logits @ w.to(grad_dtype) if wants[0] else None,
                                      grad_logits.t() @ h.to(grad_dtype) if wants[1] else None,
                                      grad_bias if wants[2] else None,
                                      hidden, weight, bias, target)  # the inputs, for a replay
                ctx.dtypes = hidden.dtype, weight.dtype, None if bias is None else bias.dtype
                ctx.eps, ctx.dtype = eps, dtype
        return (total / N).to(wide)

    @staticmethod
    def backward(ctx, grad_loss):
        *finished, hidden, weight, bias, target = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: the gradient must be differentiable itself
            wanted = [t for t, g in zip((hidden, weight, bias), finished) if g is not None]
            with torch.enable_grad():
                loss = _unfused(hidden, weight, bias, target, ctx.eps, ctx.dtype)
            replayed = iter(torch.autograd.grad(loss, wanted, grad_loss, create_graph=True))
            grads = [None if g is None else next(replayed) for g in finished]
        else:
            grads = [None if g is None else (g * grad_loss).to(dt) for g, dt in zip(finished, ctx.dtypes)]
        return (*grads, None, None, None, None, None)
