"""How the unknown is parametrized: ``init_params(key)``, ``__call__(params)`` and optionally ``vjp``."""
