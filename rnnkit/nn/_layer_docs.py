"""The docstring the recurrent layers share (:mod:`rnnkit.nn.recurrent` fills it per class)."""

DOC_TEMPLATE = """{summary}

    Drop-in for ``torch.nn.{name}``: same constructor, parameter names (``weight_ih_l{{k}}``,
    ``weight_hh_l{{k}}_reverse``, ...), initialisation and forward contract, so
    ``load_state_dict(torch_module.state_dict())`` works both ways. Beyond torch.nn it takes
    ``lengths=`` for padded batches and ``backend=``.

    Args:
        input_size: features of each input step (I).
        hidden_size: features of the state (H).
        num_layers: stacked layers; layer k > 0 reads layer k - 1's output.{extra_args}
        bias: use ``bias_ih`` and ``bias_hh``.
        batch_first: input and output are (B, T, ·) instead of (T, B, ·). States stay (L*D, B, H).
        dropout: dropout on each layer's output except the last, in training.
        bidirectional: add a reverse direction (D = 2); outputs concatenate both.
        backend: ``"auto"`` (fastest measured), ``"bptt"`` (our explicit BPTT,
            :mod:`rnnkit.nn.bptt`), ``"native"`` (torch's fused kernel) or ``"reference"`` (cell
            loop, for checking). ``"rnnkit"``, the former name of ``"bptt"``, is accepted as an
            alias and stored as ``"bptt"``, so old code keeps working.{memory_arg}

    Inputs: ``input, {state_in}=None, lengths=None``
        input: (T, B, I), (B, T, I) with ``batch_first``, (T, I) unbatched, or a ``PackedSequence``.
        {state_in}: {state_in_doc}; zeros when ``None``.
        lengths: (B,) valid steps of each sequence (list or int tensor, each in [0, T]). Padded
            steps give zeros in ``output`` and never change the state; the reverse direction starts
            at each sequence's last valid step. Equal to torch.nn fed ``pack_padded_sequence``.

    Outputs: ``output, {state_out}``
        output: (T, B, D*H) (or (B, T, D*H) / (T, D*H) / ``PackedSequence`` like the input).
        {state_out}: {state_out_doc}, the last valid step of each sequence.

    Shape:
        L = num_layers, D = 2 if bidirectional else 1, G = {gates} gate blocks.
        ``weight_ih_l0``: (G*H, I); ``weight_ih_l{{k}}``: (G*H, D*H); ``weight_hh_l{{k}}``: (G*H, H);
        biases (G*H,).

    Example::

        >>> import torch, rnnkit.nn as nn
        >>> layer = nn.{name}(10, 20, num_layers=2, batch_first=True)
        >>> x = torch.randn(3, 5, 10)
        >>> output, state = layer(x, lengths=[5, 2, 4])
        >>> output.shape
        torch.Size([3, 5, 20])
    """

MEMORY_ARG = """
        memory_bias: ``None`` (torch.nn's initialisation, unchanged) or b, the initial bias of the
            {gate}, in every layer and direction: after the usual
            initialisation (and in ``reset_parameters``) its slice of ``bias_ih`` is set to b and
            of ``bias_hh`` to 0, so their sum is b. Needs ``bias=True``.
            {why}"""
