# pragma version ~=0.4.3
"""
@title chainplug KeyRegistry
@notice Per-account migration state (CLASSICAL, HYBRID, FINALIZING, PQC_ONLY) and the committed
        ML-DSA-87 key id (keccak256 of the raw 2,592-byte public key). See docs/registry.md.
@dev    Every transition is made by the account itself (msg.sender), moves forward only, except the
        HYBRID -> CLASSICAL rollback, which retires the key for good and bumps the generation.
        An account can register a key id once, ever (a retired key never comes back). The ban is per
        account, not global: a global ban let any account register someone else's key id first and
        so block that account's migration for good, while it protected nothing, because every PQC
        signature is bound to its sender's address (M'), so a key id registered under another
        account authorises nothing for the owner's (docs/registry.md, "Why the key-id ban is per account").
"""

CLASSICAL: constant(uint8) = 0
HYBRID: constant(uint8) = 1
FINALIZING: constant(uint8) = 2
PQC_ONLY: constant(uint8) = 3

struct Entry:
    state: uint8
    key_id: bytes32
    generation: uint64
    updated_at: uint256

event StateChanged:
    account: indexed(address)
    key_id: indexed(bytes32)
    previous_state: uint8
    new_state: uint8
    generation: uint64

entries: HashMap[address, Entry]
key_used: public(HashMap[address, HashMap[bytes32, bool]])


@external
@view
def entry(account: address) -> (uint8, bytes32, uint64, uint256):
    """
    @notice What verifiers read: state, key id, generation and the block of the last change.
    """
    e: Entry = self.entries[account]
    return e.state, e.key_id, e.generation, e.updated_at


@external
@view
def state_of(account: address) -> uint8:
    return self.entries[account].state


@internal
def _move(previous: uint8, new_state: uint8, key_id: bytes32, generation: uint64):
    self.entries[msg.sender] = Entry(
        state=new_state, key_id=key_id, generation=generation, updated_at=block.number
    )
    log StateChanged(
        account=msg.sender,
        key_id=key_id,
        previous_state=previous,
        new_state=new_state,
        generation=generation,
    )


@external
def register(key_id: bytes32):
    """
    @notice CLASSICAL -> HYBRID: commit to an ML-DSA-87 key id.
    """
    e: Entry = self.entries[msg.sender]
    assert e.state == CLASSICAL, "not CLASSICAL"
    assert key_id != empty(bytes32), "empty key id"
    assert not self.key_used[msg.sender][key_id], "key id already used by this account"
    self.key_used[msg.sender][key_id] = True
    self._move(CLASSICAL, HYBRID, key_id, e.generation + 1)


@external
def announce_finalization():
    """
    @notice HYBRID -> FINALIZING: classical-only signatures from this account are no longer acceptable.
    """
    e: Entry = self.entries[msg.sender]
    assert e.state == HYBRID, "not HYBRID"
    self._move(HYBRID, FINALIZING, e.key_id, e.generation)


@external
def complete_migration():
    """
    @notice FINALIZING -> PQC_ONLY: the classical key is retired.
    """
    e: Entry = self.entries[msg.sender]
    assert e.state == FINALIZING, "not FINALIZING"
    self._move(FINALIZING, PQC_ONLY, e.key_id, e.generation)


@external
def rollback():
    """
    @notice HYBRID -> CLASSICAL: retire the PQC key (this account can never register it again).
    """
    e: Entry = self.entries[msg.sender]
    assert e.state == HYBRID, "not HYBRID"
    self._move(HYBRID, CLASSICAL, empty(bytes32), e.generation + 1)
