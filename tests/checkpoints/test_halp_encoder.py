"""HaLP's encoder computes the official BiGRU: the bidirectional nn.GRU called frame by frame, state carried."""

import torch

from fusion_plugins.ssl.halp import bigru, causal_bigru


def _official_loop(gru: torch.nn.GRU, sequence: torch.Tensor) -> torch.Tensor:
    """What the official ``EncoderRNN.forward`` does: one ``gru`` call per frame, hidden state carried."""
    hidden, outputs = None, []
    for t in range(sequence.shape[1]):
        out, hidden = gru(sequence[:, t:t + 1], hidden)
        outputs.append(out)
    return torch.cat(outputs, dim=1)


def test_causal_bigru_equals_the_frame_by_frame_loop_and_not_a_bidirectional_pass():
    torch.manual_seed(0)
    gru = torch.nn.GRU(6, 5, 2, batch_first=True, bidirectional=True).double()
    sequence = torch.randn(3, 9, 6, dtype=torch.float64)
    with torch.no_grad():
        ours, official = causal_bigru(gru, sequence), _official_loop(gru, sequence)
        textbook = gru(sequence)[0]
    assert (ours - official).abs().max() < 1e-12
    assert (textbook - official).abs().max() > 1e-2  # a true BiGRU reads the clip backwards too


def test_bigru_is_causal_and_keeps_default_gru_biases():
    torch.manual_seed(0)
    encoder = bigru(num_persons=1, config="small", hidden=8).eval()
    x = torch.randn(2, 3, 7, 25, 1)
    changed = x.clone()
    changed[:, :, 5:] += 1.0  # later frames must not change earlier outputs
    with torch.no_grad():
        a, b = encoder(x).frames, encoder(changed).frames
    assert torch.equal(a[:, :5], b[:, :5]) and not torch.equal(a[:, 5:], b[:, 5:])
    bound = 1 / 8 ** 0.5
    for name, param in encoder.gru.named_parameters():
        if name.startswith("bias"):  # PyTorch's default U(-1/sqrt(H), 1/sqrt(H)), as the official code leaves them
            assert param.abs().max() <= bound and param.abs().max() > 0.1 * bound
