"""chainplug.cli — the ``chainplug`` command (top layer; may import every other layer, lazily).

Each command group lives in its own module ``_<group>.py`` exposing ``register(subparsers, common)``;
``main.COMMAND_MODULES`` lists them. Heavy libraries are imported inside handlers so that
``chainplug --help`` starts fast. Exit codes: 0 ok, 1 verification failed / rejected, 2 bad input or usage.
"""
