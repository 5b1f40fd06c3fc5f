"""chainplug.node — what a node operator runs: the admission hook, the JSON-RPC gateway, the sidecar
store, the validator and the embedded chain (``chain/``; docs/design.md §the life of one transaction).

May import every layer below it. Entry points: :func:`check` / :class:`AdmissionHook` (pure policy
decision), :class:`Gateway` (aiohttp JSON-RPC proxy).
"""

from .admission import AdmissionHook, NodeVersion, Verdict, check

__all__ = ["AdmissionHook", "NodeVersion", "Verdict", "check"]
