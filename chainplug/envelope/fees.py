"""Default EIP-1559 fees: what chainplug offers when a transaction names none.

One rule for every signer and submitter in the package (the signer service, the registry hooks, the
embedded chain's ``eth_sendTransaction``, the devnet, the demo): tip 1 gwei, fee cap twice the base
fee plus the tip. EIP-1559 lets the base fee rise by at most 12.5% a block, so the cap stays above it
through six full blocks in a row (1.125**6 ≈ 2.03): a transaction does not get stuck on a busy spell.
"""

from __future__ import annotations

DEFAULT_PRIORITY_FEE = 10**9
"""The tip (maxPriorityFeePerGas) when none is given: 1 gwei, as anvil and geth's dev mode."""


def default_max_fee(base_fee: int, priority_fee: int = DEFAULT_PRIORITY_FEE) -> int:
    """maxFeePerGas when none is given: twice the base fee plus the tip."""
    return 2 * base_fee + priority_fee


def default_fees(base_fee: int, priority_fee: int = DEFAULT_PRIORITY_FEE) -> dict[str, int]:
    """Both fee fields, as an eth-account / web3.py transaction dict takes them."""
    return {"maxPriorityFeePerGas": priority_fee, "maxFeePerGas": default_max_fee(base_fee, priority_fee)}
