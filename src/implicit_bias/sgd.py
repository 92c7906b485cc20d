"""Moved to ``implicit_bias.optim.sgd``; this name stays importable (the very same module object)."""

import sys

from implicit_bias.optim import sgd as _sgd

sys.modules[__name__] = _sgd
