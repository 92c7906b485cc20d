"""Moved to ``implicit_bias.optim.reduction``; this name stays importable (the very same module object)."""

import sys

from implicit_bias.optim import reduction as _reduction

sys.modules[__name__] = _reduction
