"""A network of the user's own, loaded by convbench as tests/data/user_net.py:small_net."""

from torch import nn


def small_net(width: int = 8, classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(2 * width, 2 * width, 5, padding=1, bias=False), nn.ReLU(),  # not "same": cannot be swapped
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes),
    )


class TwoInputs(nn.Module):
    def __init__(self, width: int = 4):
        super().__init__()
        self.a = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.b = nn.Conv2d(1, width, 3, padding=1, bias=False)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


def broken(**kwargs):
    raise RuntimeError("no weights here")


NOT_CALLABLE = 3


def with_layer_norm(width: int = 4) -> nn.Module:
    """A conv and a LayerNorm: an op convbench has no element-op count for."""
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.LayerNorm([width, 8, 8]))
