"""chainplug.devnet — the local mixed-fleet devnet: real processes, a scenario, a report (devnet/README.md).

Owns: scenario files' format (``scenario``, ``_table``; the built-in ones in ``scenarios/``),
the process supervisor (``processes``), the wiring of chain, registry, gateway, validators and
signer (``network``), JSON-RPC to them (``rpc``), the observer and live status line
(``observer``), background traffic (``traffic``), attacks (``attacks``), injected faults
(``faults``), the embedded chain's block clock that holds the schedule to blocks (``clock``), the
schedule and its ledgers (``driver``, ``records``), and the report: facts (``analysis``), JSON and
expectations (``report``, ``expectations``; schema in ``chainplug/devnet/report.schema.json``),
picture (``plot``, matplotlib, optional) and page (``html``, in the words of ``wording``).
``orchestrator`` ties them together.

May import every layer below the CLI (it drives the others through their processes and RPC; it
imports envelope, registry and migration for attack construction, registry reads and crash-point
names). Entry points: :func:`find_scenario` (a file or a built-in name), :func:`load_scenario`,
:func:`run_scenario` (``chainplug devnet run``), :func:`running_devnet` (``chainplug devnet up``).
"""

from .orchestrator import Devnet, RunResult, run_scenario, running_devnet
from .processes import install_signal_handlers
from .rpc import DevnetError
from .scenario import Scenario, builtin_scenarios, find_scenario, load_scenario

__all__ = [
    "Devnet",
    "DevnetError",
    "RunResult",
    "Scenario",
    "builtin_scenarios",
    "find_scenario",
    "install_signal_handlers",
    "load_scenario",
    "run_scenario",
    "running_devnet",
]
