"""Sequence models for the tests: token ids into a sequence-first encoder, and a bare LSTM."""

from torch import nn


class Tagger(nn.Module):
    """Token ids (L, N) -> embedding -> sequence-first Transformer encoder -> a class per token."""

    def __init__(self, vocab: int = 100, dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, 4, 64, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 5)

    def forward(self, ids, src_key_padding_mask=None):
        return self.head(self.encoder(self.embed(ids), src_key_padding_mask=src_key_padding_mask))


def tagger() -> nn.Module:
    return Tagger()


def lstm() -> nn.Module:
    return nn.LSTM(16, 32)


class KeepPositive(nn.Module):
    """A linear layer applied only to the rows of the input the first one scores positive: how many
    rows it costs follows the data."""

    def __init__(self):
        super().__init__()
        self.score = nn.Linear(8, 1)
        self.linear = nn.Linear(8, 8)

    def forward(self, x):
        return self.linear(x[self.score(x)[:, 0] > 0])


def keep_positive() -> nn.Module:
    return KeepPositive()
