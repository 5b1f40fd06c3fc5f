"""chainplug.node.chain — the embedded chain: py-evm with the upgraded rules, over HTTP JSON-RPC.

Layout (docs/design.md §chain; the transaction format is docs/pqc-transaction.md):

    rules                the upgraded chain rules, judged against the registry at the parent block
    fork                 those rules as a py-evm fork of Prague (UpgradedPragueVM)
    accounts, backend    genesis, anvil's dev accounts, the transaction pool, block building, reads
    mined                recently mined blocks and their receipts, cached for reads
    evm_keccak           which keccak py-evm hashes with (process-wide; the C one for the server)
    trie                 a block's transaction and receipt tries, built in one pass
    queries, wire        eth_call / estimateGas / getLogs / feeHistory; geth's wire format
    server               the aiohttp JSON-RPC server (``chainplug chain serve``)

The PQC-only transaction itself (type 0x50: format, strict decoding, signing) lives in
chainplug.envelope (``pqc_tx``, ``decode``, ``pqc_signer``) so signers below this layer can build it;
it is re-exported here. May import every layer below chainplug.node; py-evm is imported only by fork,
backend, mined, trie, queries, wire and server.
"""

from ...envelope.decode import decode_pqc_transaction
from ...envelope.pqc_signer import PqcOnlySigner, SignedPqcTransaction
from ...envelope.pqc_tx import PqcOnlyTransaction, PqcTransaction, verify_pqc_signature

__all__ = [
    "PqcOnlySigner",
    "PqcOnlyTransaction",
    "PqcTransaction",
    "SignedPqcTransaction",
    "decode_pqc_transaction",
    "verify_pqc_signature",
]
