"""The built-in variants; importing this package registers them, in the order ``convbench list``
shows them."""

from convbench.variants import plain, depthwise, octave, stft, acnet, xsep, transposed, blocks  # noqa: F401
