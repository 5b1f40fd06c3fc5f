"""chainplug.node — what a node operator runs: the admission hook, the JSON-RPC gateway and (next) the
embedded chain and validator processes (DESIGN.md §7).

May import every layer below it. Entry points: :func:`check` / :class:`AdmissionHook` (pure policy
decision), :class:`Gateway` (aiohttp JSON-RPC proxy).
"""

from .admission import AdmissionHook, NodeVersion, Verdict, check

__all__ = ["AdmissionHook", "NodeVersion", "Verdict", "check"]
