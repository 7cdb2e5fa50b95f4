"""Fused forward and backward through time for the RNN, LSTM and GRU recurrences.

This module is the point of the project: backpropagation through time written out by hand, in
``torch.autograd.Function``s, instead of letting autograd record a graph of every step.

Division of work (see ``docs/equations.md``):

* the caller (a cell type's ``fused`` method, :mod:`rnnkit.nn.cell_types`) computes the input
  projection of all steps as one matrix product, ``xg = x @ W_ih^T + b`` (autograd
  differentiates that product as two more large products);
* a Function here runs the time loop: per step one recurrent product and a few pointwise ops,
  saving the gate activations; its backward walks the steps in reverse computing the gate
  gradients, then forms ``dW_hh`` (and ``db_hh``) as one product over all steps.

Internal layout, time-major so that each step's rows are contiguous:

* ``xg``: (T, B, G*H), G = 1, 4, 3 gate blocks in torch.nn's order (LSTM i, f, g, o; GRU r, z, n).
* Variable lengths: the batch is sorted by length, longest first, and ``batch_sizes[t]`` rows are
  active at step t, as in a ``PackedSequence``. A step touches only that row prefix; rows past it
  keep their state, so a finished sequence holds its last valid state and a reverse direction
  starts each sequence at its own last element, with no masks.
* States live in one buffer of T + 1 slabs indexed by time: for the forward direction slab 0 is
  the initial state and slab t + 1 the state after step t; for the reverse direction slab T is the
  initial state and slab t the state after step t. The outputs are then a plain slice of it.

Speed notes (2-core CPU, measured): each ATen call costs a few microseconds, so per-step views are
made in bulk with ``unbind``; scalars are 0-dim tensors (a Python float is converted to a tensor
on every call); the recurrent product uses a packed oneDNN weight (:mod:`._step_matmul`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._step_matmul import StepMatmul
from .backend import transformed

_ONE = torch.tensor(1.0)
_TWO = torch.tensor(2.0)

# ATen's CPU tanh is slower than its sigmoid, and tanh(x) = 2 sigmoid(2x) - 1 exactly; with
# tensor scalars the four calls beat one tanh at every size measured (20 x 200: 6.2 us against
# 7.8 us; 64 x 512: 22 us against 45 us). Rounding differs by about one float32 ulp of 1.


def _tanh_(x: torch.Tensor) -> torch.Tensor:
    """In-place tanh of ``x``; returns ``x``."""
    if x.is_cuda:
        return x.tanh_()
    return x.mul_(_TWO).sigmoid_().mul_(_TWO).sub_(_ONE)


def _tanh(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """tanh(x) written into ``out``; returns ``out``."""
    if x.is_cuda:
        return torch.tanh(x, out=out)
    return torch.mul(x, _TWO, out=out).sigmoid_().mul_(_TWO).sub_(_ONE)


def _rows(x: torch.Tensor, b: int, full: bool) -> torch.Tensor:
    return x if full else x[:b]


def _schedule(T: int, batch_sizes: Sequence[int] | None, B: int, reverse: bool):
    """The (time, active rows) pairs in the order the forward pass visits them."""
    times = range(T - 1, -1, -1) if reverse else range(T)
    if batch_sizes is None:
        return [(t, B) for t in times]
    return [(t, int(batch_sizes[t])) for t in times if batch_sizes[t] > 0]


def _new_states(h0: torch.Tensor, T: int, varlen: bool, reverse: bool) -> torch.Tensor:
    """State buffer (T + 1, B, H) holding ``h0`` in the initial slab.

    With variable lengths every slab starts as zeros (forward direction: padded outputs are then
    already zero) or as ``h0`` (reverse: a row that has not started yet reads its initial state
    from the slab after its first step).
    """
    B, H = h0.shape
    if not varlen:
        hs = h0.new_empty(T + 1, B, H)
    elif reverse:
        hs = h0.unsqueeze(0).expand(T + 1, B, H).clone()
    else:
        hs = h0.new_zeros(T + 1, B, H)
    hs[T if reverse else 0] = h0
    return hs


def _assemble(steps: list, like: torch.Tensor, varlen: bool) -> torch.Tensor:
    """Per-step tensors (b_t, N), indexed by time, as one tensor of ``like``'s (T, B, N), zero
    where inactive (everywhere when every length is 0)."""
    if not varlen:
        return torch.stack(steps)
    out = like.new_zeros(like.shape)
    for t, s in enumerate(steps):
        if s is not None:
            out[t, : s.shape[0]] = s
    return out


def _own(out: torch.Tensor) -> torch.Tensor:
    """The output of an autograd Function in storage of its own. A view of the state buffer it
    saves for backward may not be changed in place (autograd refuses ``out += x`` or
    ``relu_()`` on it, which torch.nn's output allows); one copy of (T, B, H) buys that back."""
    return out.clone() if out._is_view() else out


def _lengths(batch_sizes: Sequence[int], B: int, device) -> torch.Tensor:
    bs = torch.as_tensor(list(batch_sizes), dtype=torch.long)
    return (bs.unsqueeze(1) > torch.arange(B).unsqueeze(0)).sum(0).to(device)


def _outputs_and_last(hs: torch.Tensor, T: int, batch_sizes, reverse: bool):
    """Per-step outputs (T, B, H), zero at padded steps, and the last valid state (B, H)."""
    if batch_sizes is None:
        return (hs[0:T] if reverse else hs[1 : T + 1]), (hs[0] if reverse else hs[T]).clone()
    lengths = _lengths(batch_sizes, hs.shape[1], hs.device)
    if reverse:
        # Slabs past a row's length still hold its initial state (see _new_states): zero them.
        valid = torch.arange(T, device=hs.device).unsqueeze(1) < lengths.unsqueeze(0)
        return hs[0:T] * valid.unsqueeze(2).to(hs.dtype), hs[0].clone()
    return hs[1 : T + 1], hs[lengths, torch.arange(hs.shape[1], device=hs.device)]


# ---------------------------------------------------------------------------------------------
# Higher-order gradients. The hand-written backwards below are fast but not themselves
# differentiable. When backward runs with grad mode on (``create_graph=True``: gradient
# penalties, Hessian-vector products, MAML), it instead replays the direction's forward from the
# saved inputs in out-of-place ops that autograd records, with the same ``batch_sizes``/reverse
# semantics, and returns autograd's gradient of that replay, built with ``create_graph=True``.
# So does a vmapped backward (``is_grads_batched``: batched gradients, vectorized Jacobians).
# The first-order path (grad mode off in backward, no vmap) pays one check and keeps its loop;
# keeping the inputs xg, h0 (c0) saved for the replay costs memory until backward, no time.
# ---------------------------------------------------------------------------------------------


def _replay(step, xg, init, batch_sizes, reverse):
    """The recurrence again, as a graph: ``step(xg_t (b, G*H), states) -> states`` on the
    active row prefix of every step; returns ``(output (T, B, N), *final states)``, output zero
    where a row is inactive, exactly as the fused forwards."""
    T, B = xg.shape[0], xg.shape[1]
    state, outs = tuple(init), [None] * T
    for t, b in _schedule(T, batch_sizes, B, reverse):
        new = step(xg[t, :b], tuple(s[:b] for s in state))
        if b < B:  # rows past the prefix keep their state and output zeros
            outs[t] = torch.cat((new[0], new[0].new_zeros(B - b, new[0].shape[1])))
            new = tuple(torch.cat((n, s[b:])) for n, s in zip(new, state))
        else:
            outs[t] = new[0]
        state = new
    zeros = init[0].new_zeros(init[0].shape)
    return (torch.stack([zeros if o is None else o for o in outs]), *state)


def _replay_wanted(*grads) -> bool:
    """Whether a backward must go through :func:`_differentiable_backward`: grad mode on
    (``create_graph=True``), or a vmap over it (``torch.autograd.grad(..., is_grads_batched=True)``,
    as gradcheck's batched-gradient check and ``torch.autograd.functional.jacobian(vectorize=True)``
    do; or a torch.func transform), which the in-place hand-written loop cannot serve."""
    batched = getattr(torch._C._functorch, "is_legacy_batchedtensor", None)  # private; is_grads_batched's vmap
    return torch.is_grad_enabled() or transformed() or (batched is not None and any(batched(g) for g in grads))


def _differentiable_backward(ctx, grads, replay, *args):
    """A Function's backward as a graph autograd can differentiate again: the gradients of
    ``replay(*args)`` (its outputs, ``args`` its forward's arguments) for the tensor arguments
    that need one; ``None`` for the rest."""
    needs = [isinstance(a, torch.Tensor) and n for a, n in zip(args, ctx.needs_input_grad)]
    wanted = [a for a, n in zip(args, needs) if n]
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        outputs = replay(*args)
    got = iter(torch.autograd.grad(outputs, wanted, grads, create_graph=create_graph, allow_unused=True))
    return tuple(next(got) if n else None for n in needs)


def _rnn_replay(xg, h0, w_hh, relu, batch_sizes, reverse):
    def step(x_t, state):
        a = torch.addmm(x_t, state[0], w_hh.t())
        return (torch.relu(a) if relu else torch.tanh(a),)

    return _replay(step, xg, (h0,), batch_sizes, reverse)


def _lstm_replay(xg, h0, c0, w_hh, batch_sizes, reverse, w_hr=None):
    def step(x_t, state):
        i, f, g, o = torch.addmm(x_t, state[0], w_hh.t()).chunk(4, 1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return (h if w_hr is None else h.mm(w_hr.t()), c)

    return _replay(step, xg, (h0, c0), batch_sizes, reverse)


def _gru_replay(xg, h0, w_hh, b_hh, batch_sizes, reverse):
    def step(x_t, state):
        h = state[0]
        xr, xz, xn = x_t.chunk(3, 1)
        hr, hz, hn = torch.nn.functional.linear(h, w_hh, b_hh).chunk(3, 1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (n + z * (h - n),)

    return _replay(step, xg, (h0,), batch_sizes, reverse)


# ---------------------------------------------------------------------------------------------
# Vanilla RNN: h_t = phi(xg_t + W_hh h_{t-1})
# ---------------------------------------------------------------------------------------------


def rnn_forward(xg, h0, w_hh, relu: bool, batch_sizes=None, reverse=False):
    """Forward recurrence of a vanilla RNN.

    Args:
        xg: (T, B, H) input projection of every step, both biases included.
        h0: (B, H) initial state.
        w_hh: (H, H) recurrent weight.
        relu: ``True`` for relu, ``False`` for tanh.
        batch_sizes: ``None`` (all rows run T steps) or active rows per step, non-increasing.
        reverse: run from the last step to the first.

    Returns:
        ``(output (T, B, H), h_n (B, H), hs (T + 1, B, H) state buffer)``.
    """
    T, B, _ = xg.shape
    varlen = batch_sizes is not None
    hs = _new_states(h0, T, varlen, reverse)
    hl, xl = hs.unbind(0), xg.unbind(0)
    step = StepMatmul(w_hh, B)
    prev_of = 1 if reverse else 0
    for t, b in _schedule(T, batch_sizes, B, reverse):
        full = b == B
        a = step(_rows(hl[t + prev_of], b, full), _rows(xl[t], b, full))
        out = _rows(hl[t + 1 - prev_of], b, full)
        torch.clamp_min(a, 0.0, out=out) if relu else _tanh(a, out=out)
    out, h_n = _outputs_and_last(hs, T, batch_sizes, reverse)
    return out, h_n, hs


class RNNRecurrence(torch.autograd.Function):
    """Autograd Function: ``(xg, h0, w_hh) -> (output, h_n)`` for a vanilla RNN (see rnn_forward)."""

    @staticmethod
    def forward(ctx, xg, h0, w_hh, relu, batch_sizes, reverse):
        out, h_n, hs = rnn_forward(xg, h0, w_hh, relu, batch_sizes, reverse)
        ctx.save_for_backward(hs, w_hh, xg, h0)  # the inputs for a differentiable backward
        ctx.config = (relu, batch_sizes, reverse)
        return _own(out), h_n

    @staticmethod
    def backward(ctx, grad_out, grad_hn):
        relu, batch_sizes, reverse = ctx.config
        if _replay_wanted(grad_out, grad_hn):  # create_graph=True or vmap: a differentiable backward
            _, w_hh, xg, h0 = ctx.saved_tensors
            return _differentiable_backward(ctx, (grad_out, grad_hn), _rnn_replay,
                                            xg, h0, w_hh, relu, batch_sizes, reverse)
        hs, w_hh, _, _ = ctx.saved_tensors
        T, B, H = grad_out.shape
        prev_of = 1 if reverse else 0
        after = hs[1 - prev_of : T + 1 - prev_of]  # the state after step t, for every t
        # phi'(a_t) from the outputs, in bulk: relu' = [h > 0], tanh' = 1 - h^2.
        deriv = (after > 0).to(after.dtype) if relu else torch.mul(after, after).neg_().add_(_ONE)
        da = grad_out.new_zeros(T, B, H) if batch_sizes is not None else grad_out.new_empty(T, B, H)
        dal, dl, gl = da.unbind(0), deriv.unbind(0), grad_out.unbind(0)
        step = StepMatmul(w_hh.t(), B)  # dh_{t-1} = da_t @ W_hh
        dh = grad_hn.clone()
        for t, b in reversed(_schedule(T, batch_sizes, B, reverse)):
            if b == B:
                dh.add_(gl[t])
                torch.mul(dh, dl[t], out=dal[t])
                dh = step(dal[t])
            else:
                dh_b = dh[:b].add_(gl[t][:b])
                torch.mul(dh_b, dl[t][:b], out=dal[t][:b])
                dh[:b] = step(dal[t][:b])
        prev = hs[prev_of : T + prev_of]
        dw_hh = da.reshape(T * B, H).t().mm(prev.reshape(T * B, H))
        return da, dh, dw_hh, None, None, None


# ---------------------------------------------------------------------------------------------
# LSTM (gate order i, f, g, o)
# ---------------------------------------------------------------------------------------------


def lstm_forward(xg, h0, c0, w_hh, batch_sizes=None, reverse=False, keep=True, w_hr=None):
    """Forward recurrence of an LSTM.

    Args:
        xg: (T, B, 4H) input projection of every step, both biases included.
        h0, c0: (B, H) initial states.
        w_hh: (4H, H) recurrent weight.
        batch_sizes, reverse: as in :func:`rnn_forward`.
        keep: keep what backward needs; ``False`` for inference.
        w_hr: ``None``, or torch.nn.LSTM's projection (P, H) of ``proj_size`` P:
            ``h = W_hr (o * tanh(c))``; h0, h, the output and ``w_hh``'s columns then have P.

    Returns:
        ``(output (T, B, H), h_n, c_n, saved)``, ``saved`` = ``(acts, tanh_c, hs, cs)``: the gate
        activations (T, B, 4H), tanh of the cell (T, B, H) and the state buffers, or ``None``.
        Backward recomputes ``o * tanh(c)`` (for dW_hr) from these, so a projection saves nothing more.
    """
    T, B, G = xg.shape
    H = G // 4
    varlen = batch_sizes is not None
    hs, cs = _new_states(h0, T, varlen, reverse), _new_states(c0, T, varlen, reverse)
    tanh_c = xg.new_zeros(T, B, H) if varlen else xg.new_empty(T if keep else 1, B, H)
    hl, cl, xl, tl = hs.unbind(0), cs.unbind(0), xg.unbind(0), tanh_c.unbind(0)
    gates = [None] * T
    step = StepMatmul(w_hh, B)
    project = None if w_hr is None else StepMatmul(w_hr, B)
    unprojected = None if w_hr is None else xg.new_empty(B, H)  # o * tanh(c), before W_hr
    cpu = not xg.is_cuda
    prev_of = 1 if reverse else 0
    for t, b in _schedule(T, batch_sizes, B, reverse):
        full = b == B
        prev, nxt = t + prev_of, t + 1 - prev_of
        a = step(_rows(hl[prev], b, full), _rows(xl[t], b, full))
        i, f, g, o = a.chunk(4, 1)
        if cpu:  # one sigmoid for all four blocks: g = 2 sigmoid(2 a_g) - 1 = tanh(a_g)
            g.mul_(_TWO)
            a.sigmoid_()
            g.mul_(_TWO).sub_(_ONE)
        else:  # on the GPU tanh is as cheap as sigmoid
            i.sigmoid_()
            f.sigmoid_()
            o.sigmoid_()
            g.tanh_()
        c = torch.mul(f, _rows(cl[prev], b, full), out=_rows(cl[nxt], b, full))
        c.addcmul_(i, g)
        tc = _tanh(c, out=_rows(tl[t if keep or varlen else 0], b, full))
        if project is None:
            torch.mul(o, tc, out=_rows(hl[nxt], b, full))
        else:
            m = torch.mul(o, tc, out=_rows(unprojected, b, full))
            _rows(hl[nxt], b, full).copy_(project(m))
        if keep:
            gates[t] = a
    out, h_n = _outputs_and_last(hs, T, batch_sizes, reverse)
    _, c_n = _outputs_and_last(cs, T, batch_sizes, reverse)
    saved = (_assemble(gates, xg, varlen), tanh_c, hs, cs) if keep else None
    return out, h_n, c_n, saved


class LSTMRecurrence(torch.autograd.Function):
    """Autograd Function: ``(xg, h0, c0, w_hh, .., w_hr) -> (output, h_n, c_n)`` (see lstm_forward);
    ``w_hr`` is ``None`` without a projection."""

    @staticmethod
    def forward(ctx, xg, h0, c0, w_hh, batch_sizes, reverse, w_hr=None):
        out, h_n, c_n, saved = lstm_forward(xg, h0, c0, w_hh, batch_sizes, reverse, w_hr=w_hr)
        ctx.save_for_backward(*saved, w_hh, w_hr, xg, h0, c0)  # inputs: for a differentiable backward
        ctx.config = (batch_sizes, reverse)
        return _own(out), h_n, c_n

    @staticmethod
    def backward(ctx, grad_out, grad_hn, grad_cn):
        batch_sizes, reverse = ctx.config
        if _replay_wanted(grad_out, grad_hn, grad_cn):  # create_graph=True or vmap: differentiable
            *_, w_hh, w_hr, xg, h0, c0 = ctx.saved_tensors
            return _differentiable_backward(ctx, (grad_out, grad_hn, grad_cn), _lstm_replay,
                                            xg, h0, c0, w_hh, batch_sizes, reverse, w_hr)
        acts, tanh_c, hs, cs, w_hh, w_hr, *_ = ctx.saved_tensors
        T, B, G = acts.shape
        H = G // 4
        prev_of = 1 if reverse else 0
        i, f, g, o = acts.view(T, B, 4, H).unbind(2)
        c_prev = cs[prev_of : T + prev_of]
        # Everything that does not depend on the carried gradients, in bulk over all steps,
        # written in place into one buffer (fresh large tensors cost page faults):
        #   dc_t += dh_t * o (1 - tanh^2 c)                                  -> dc_gain
        #   da_o  = dh_t * tanh c * o (1 - o)                                -> do_gain
        #   da_i, da_f, da_g = dc_t * [g i(1-i), c_prev f(1-f), i (1-g^2)]   -> ifg_gain
        gain = acts.new_empty(T, B, 5, H)  # i, f, g, then dc_gain and do_gain
        g_i, g_f, g_g, dc_gain, do_gain = gain.unbind(2)
        ifg_gain = gain[:, :, :3]
        one_minus = torch.sub(_ONE, i)
        torch.mul(g, i, out=g_i).mul_(one_minus)
        torch.sub(_ONE, f, out=one_minus)
        torch.mul(c_prev, f, out=g_f).mul_(one_minus)
        torch.mul(g, g, out=g_g).neg_().add_(_ONE).mul_(i)
        torch.mul(tanh_c, tanh_c, out=dc_gain).neg_().add_(_ONE).mul_(o)
        torch.sub(_ONE, o, out=one_minus)
        torch.mul(tanh_c, o, out=do_gain).mul_(one_minus)
        del one_minus
        da = acts.new_zeros(T, B, G) if batch_sizes is not None else acts.new_empty(T, B, G)
        dal, da4 = da.unbind(0), da.view(T, B, 4, H).unbind(0)
        gl, fl, dcl, dol, ifgl = (x.unbind(0) for x in (grad_out, f, dc_gain, do_gain, ifg_gain))
        step = StepMatmul(w_hh.t(), B)  # dh_{t-1} = da_t @ W_hh
        # With a projection h = W_hr m, m = o tanh(c): dm_t = dh_t @ W_hr takes dh_t's place in
        # the gate gradients, and dW_hr = sum_t dh_t^T m_t needs every step's dh_t (kept in dhs).
        P = hs.shape[2]
        unproject = None if w_hr is None else StepMatmul(w_hr.t(), B)
        if unproject is not None:
            dhs = acts.new_zeros(T, B, P) if batch_sizes is not None else acts.new_empty(T, B, P)
            dhsl = dhs.unbind(0)
        dh, dc = grad_hn.clone(), grad_cn.clone()
        for t, b in reversed(_schedule(T, batch_sizes, B, reverse)):
            full = b == B
            dh_b, dc_b, d4 = _rows(dh, b, full), _rows(dc, b, full), _rows(da4[t], b, full)
            dh_b.add_(_rows(gl[t], b, full))
            if unproject is not None:
                dh_b = unproject(_rows(dhsl[t], b, full).copy_(dh_b))  # now dm_t (b, H)
            dc_b.addcmul_(dh_b, _rows(dcl[t], b, full))
            torch.mul(dc_b.unsqueeze(1), _rows(ifgl[t], b, full), out=d4[:, :3])
            torch.mul(dh_b, _rows(dol[t], b, full), out=d4[:, 3])
            dc_b.mul_(_rows(fl[t], b, full))
            if full:
                dh = step(dal[t])
            else:
                dh[:b] = step(dal[t][:b])
        h_prev = hs[prev_of : T + prev_of]
        dw_hh = da.reshape(T * B, G).t().mm(h_prev.reshape(T * B, P))
        dw_hr = None
        if unproject is not None:  # m = o tanh(c) is zero at padded steps, as dhs is
            dw_hr = dhs.reshape(T * B, P).t().mm(torch.mul(o, tanh_c).reshape(T * B, H))
        return da, dh, dc, dw_hh, None, None, dw_hr


# ---------------------------------------------------------------------------------------------
# GRU (gate order r, z, n; reset applied after the recurrent product, as in torch.nn.GRU)
# ---------------------------------------------------------------------------------------------


def gru_forward(xg, h0, w_hh, b_hh, batch_sizes=None, reverse=False, keep=True):
    """Forward recurrence of a GRU.

    Args:
        xg: (T, B, 3H) input projection of every step with ``b_ih`` (``b_hh`` cannot be folded
            in: its n block sits inside ``r * (W_hn h + b_hn)``).
        h0: (B, H) initial state.
        w_hh: (3H, H) recurrent weight; b_hh: (3H,) or ``None``.
        batch_sizes, reverse, keep: as in :func:`lstm_forward`.

    Returns:
        ``(output (T, B, H), h_n, saved)``, ``saved`` = ``(acts, hh_n, hs)``: the gates (r, z, n)
        (T, B, 3H), the n block of the recurrent product ``W_hn h + b_hn`` (T, B, H) and the
        state buffer.
    """
    T, B, G = xg.shape
    H = G // 3
    varlen = batch_sizes is not None
    hs = _new_states(h0, T, varlen, reverse)
    acts = xg.new_zeros(T, B, G) if varlen else xg.new_empty(T if keep else 1, B, G)
    hl, xrz, xn = hs.unbind(0), xg[:, :, : 2 * H].unbind(0), xg[:, :, 2 * H :].unbind(0)
    arz, an = acts[:, :, : 2 * H].unbind(0), acts[:, :, 2 * H :].unbind(0)
    hh_n_all = xg.new_zeros(T, B, H) if varlen else xg.new_empty(T if keep else 1, B, H)
    hnl = hh_n_all.unbind(0)
    step = StepMatmul(w_hh, B, b_hh)
    prev_of = 1 if reverse else 0
    for t, b in _schedule(T, batch_sizes, B, reverse):
        full = b == B
        k = t if keep or varlen else 0
        h_prev = _rows(hl[t + prev_of], b, full)
        hh = step(h_prev)
        hh_rz, hh_n = hh.split((2 * H, H), 1)
        rz = torch.add(_rows(xrz[t], b, full), hh_rz, out=_rows(arz[k], b, full)).sigmoid_()
        r, z = rz.chunk(2, 1)
        n = _tanh_(torch.addcmul(_rows(xn[t], b, full), r, hh_n, out=_rows(an[k], b, full)))
        # h = (1 - z) n + z h_prev = n + z (h_prev - n)
        torch.lerp(n, h_prev, z, out=_rows(hl[t + 1 - prev_of], b, full))
        if keep:
            _rows(hnl[t], b, full).copy_(hh_n)
    out, h_n = _outputs_and_last(hs, T, batch_sizes, reverse)
    saved = (acts, hh_n_all, hs) if keep else None
    return out, h_n, saved


class GRURecurrence(torch.autograd.Function):
    """Autograd Function: ``(xg, h0, w_hh, b_hh) -> (output, h_n)`` (see gru_forward)."""

    @staticmethod
    def forward(ctx, xg, h0, w_hh, b_hh, batch_sizes, reverse):
        out, h_n, saved = gru_forward(xg, h0, w_hh, b_hh, batch_sizes, reverse)
        ctx.save_for_backward(*saved, w_hh, xg, h0, b_hh)  # inputs: for a differentiable backward
        ctx.config = (batch_sizes, reverse, b_hh is not None)
        return _own(out), h_n

    @staticmethod
    def backward(ctx, grad_out, grad_hn):
        batch_sizes, reverse, has_bias = ctx.config
        if _replay_wanted(grad_out, grad_hn):  # create_graph=True or vmap: a differentiable backward
            *_, w_hh, xg, h0, b_hh = ctx.saved_tensors
            return _differentiable_backward(ctx, (grad_out, grad_hn), _gru_replay,
                                            xg, h0, w_hh, b_hh, batch_sizes, reverse)
        acts, hh_n, hs, w_hh, *_ = ctx.saved_tensors
        T, B, G = acts.shape
        H = G // 3
        prev_of = 1 if reverse else 0
        r, z, n = acts.view(T, B, 3, H).unbind(2)
        h_prev = hs[prev_of : T + prev_of]
        # With dh_t the gradient reaching h_t, every gate gradient is dh_t times a factor known
        # from the forward pass, computed here in bulk into one buffer (fresh large tensors cost
        # page faults, so the chain is written in place):
        #   da_n = dh (1 - z)(1 - n^2)          da_z = dh (h_prev - n) z (1 - z)
        #   da_r = da_n hh_n r (1 - r)          d(hh_n) = da_n r
        gain = acts.new_empty(T, B, 3, H)
        g_r, g_z, g_n = gain.unbind(2)
        one_minus = torch.sub(_ONE, z)
        torch.mul(n, n, out=g_n).neg_().add_(_ONE).mul_(one_minus)
        torch.sub(h_prev, n, out=g_z).mul_(z).mul_(one_minus)
        torch.sub(_ONE, r, out=one_minus)
        torch.mul(g_n, hh_n, out=g_r).mul_(r).mul_(one_minus)
        del one_minus
        varlen = batch_sizes is not None
        dhh = acts.new_zeros(T, B, G) if varlen else acts.new_empty(T, B, G)
        dhs = acts.new_zeros(T, B, H) if varlen else acts.new_empty(T, B, H)
        dhhl, dhh3, dhhn = dhh.unbind(0), dhh.view(T, B, 3, H).unbind(0), dhh[:, :, 2 * H :].unbind(0)
        dhsl, gl, zl, rl, gainl = dhs.unbind(0), grad_out.unbind(0), z.unbind(0), r.unbind(0), gain.unbind(0)
        step = StepMatmul(w_hh.t(), B)  # d h_prev = dh z + d(hh) @ W_hh
        dh = grad_hn.clone()
        for t, b in reversed(_schedule(T, batch_sizes, B, reverse)):
            full = b == B
            dh_t = torch.add(_rows(dh, b, full), _rows(gl[t], b, full), out=_rows(dhsl[t], b, full))
            torch.mul(dh_t.unsqueeze(1), _rows(gainl[t], b, full), out=_rows(dhh3[t], b, full))
            _rows(dhhn[t], b, full).mul_(_rows(rl[t], b, full))
            carried = step(_rows(dhhl[t], b, full), torch.mul(dh_t, _rows(zl[t], b, full)))
            if full:
                dh = carried
            else:
                dh[:b] = carried
        dxg = gain.mul_(dhs.unsqueeze(2)).view(T, B, G)
        dw_hh = dhh.reshape(T * B, G).t().mm(h_prev.reshape(T * B, H))
        db_hh = dhh.reshape(T * B, G).sum(0) if has_bias else None
        return dxg, dh, dw_hh, db_hh, None, None
