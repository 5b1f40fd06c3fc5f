"""chainplug.node.chain — the embedded chain: py-evm with the upgraded rules, over HTTP JSON-RPC.

Layout (DESIGN.md §7 "Chain"; the transaction format is docs/pqc-transaction.md):

    pqc_tx, pqc_signer   the PQC-only transaction (type 0x50): format, strict decoding, signing
                         (py-evm-free, ready to move into chainplug.envelope)
    rules                the upgraded chain rules, judged against the registry at the parent block
    fork                 those rules as a py-evm fork of Prague (UpgradedPragueVM)
    accounts, backend    genesis, anvil's dev accounts, submission, mining, reads
    queries, wire        eth_call / estimateGas / getLogs / feeHistory; geth's wire format
    server               the aiohttp JSON-RPC server (``chainplug chain serve``)

May import every layer below chainplug.node. py-evm is imported only by fork, backend, queries, wire
and server, so ``pqc_tx`` and ``pqc_signer`` stay cheap to import.
"""

from .pqc_signer import PqcOnlySigner, SignedPqcTransaction
from .pqc_tx import PqcTransaction, UnsignedPqcTransaction, decode_pqc_transaction, verify_pqc_signature

__all__ = [
    "PqcOnlySigner",
    "PqcTransaction",
    "SignedPqcTransaction",
    "UnsignedPqcTransaction",
    "decode_pqc_transaction",
    "verify_pqc_signature",
]
