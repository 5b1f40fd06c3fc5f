------------------------------- MODULE Fleet -------------------------------
(***************************************************************************)
(* The fleet gate (issue #9, fleet half; docs/design.md, devnet/README).  *)
(*                                                                         *)
(* Validators are legacy or upgraded and upgrade one at a time, never      *)
(* back. Accounts move CLASSICAL -> HYBRID -> FINALIZING -> PQC_ONLY.      *)
(* HYBRID -> FINALIZING needs the fleet gate (chainplug/migration/gate.py): *)
(* upgraded fraction >= ThresholdNum / ThresholdDen (default 1/1 = every   *)
(* validator; never below the 2/3 quorum unless forced, GateOn = FALSE).   *)
(* An activation flag switches the upgraded verifiers to enforcement.      *)
(*                                                                         *)
(* Transactions are <<kind, sender>> in a pool of everything ever          *)
(* broadcast; validators judge every pooled transaction against the        *)
(* CURRENT registry state and activation flag:                             *)
(*   "classical" honest bare classical tx  (sent while CLASSICAL)          *)
(*   "hybrid"    honest envelope, valid PQC part (sent while HYBRID)       *)
(*   "pqconly"   honest PQC-only tx, type 0x50 (sent while FINALIZING+)    *)
(*   "stripped"  attacker: a pooled hybrid tx with its PQC part removed    *)
(*               (bare classical tx that still names the hybrid artifact)  *)
(*   "forged"    attacker: a bare classical tx with a forged classical     *)
(*               signature, for any sender in Forgeable (default: all)     *)
(* A verifier cannot tell "forged" from "classical" (same bytes shape);    *)
(* the model judges them by the same rule and only the ghost kind differs. *)
(*                                                                         *)
(* Judgement mirrors chainplug/verify/verifiers.py:                        *)
(*   legacy  : every classical-looking tx (classical, hybrid via its       *)
(*             classical part, stripped, forged) accepted; pqconly is      *)
(*             unreadable -> rejected.                                     *)
(*   upgraded: UpgradedVerifier's table (state x before/after activation)  *)
(*             and the pqc-only policy (sender FINALIZING or PQC_ONLY).     *)
(*                                                                         *)
(* GateOn = FALSE: the gate is forced off (FleetNoGate.tla) - must strand. *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS
    Validators,     \* the verifying fleet, e.g. {v1, v2, v3}
    Accounts,       \* e.g. {a1} or {a1, a2}
    Forgeable,      \* accounts whose classical key the attacker can forge for
    GateOn,         \* BOOLEAN: FALSE = gate forced off (gate.py force=True)
    ThresholdNum,   \* gate threshold = ThresholdNum / ThresholdDen (1/1 = "all")
    ThresholdDen

ASSUME Forgeable \subseteq Accounts
ASSUME ThresholdNum \in 1..ThresholdDen
\* gate.py: never below the 2/3 quorum unless forced
ASSUME GateOn => 3 * ThresholdNum >= 2 * ThresholdDen

\* AccountState, ordered as in chainplug.types
CLASSICAL == 1
HYBRID == 2
FINALIZING == 3
PQC_ONLY == 4

Kinds == {"classical", "hybrid", "stripped", "forged", "pqconly"}
Tx == Kinds \X Accounts

VARIABLES
    upgraded,   \* validators running the upgraded (PQC-verifying) version
    state,      \* registered state of each account (the registry, on chain)
    activated,  \* the activation block has been reached
    pool        \* every transaction broadcast so far (honest and attacker)

vars == <<upgraded, state, activated, pool>>

Kind(tx) == tx[1]
Sender(tx) == tx[2]

-----------------------------------------------------------------------------
(* The gate (FleetGate.evaluate) and the verifiers.                        *)

GatePasses ==
    \/ ~GateOn
    \/ ThresholdDen * Cardinality(upgraded) >= ThresholdNum * Cardinality(Validators)

\* LegacyVerifier: the classical signature only; a type-0x50 tx is unreadable.
LegacyAccepts(tx) == Kind(tx) # "pqconly"

\* UpgradedVerifier.verify (+ check_pqc_only), sender state read from the registry.
UpgradedAccepts(tx) ==
    LET s == state[Sender(tx)]
        strict == s = FINALIZING \/ (s = HYBRID /\ activated)
    IN CASE Kind(tx) = "pqconly" -> s \in {FINALIZING, PQC_ONLY}
         [] Kind(tx) = "hybrid" -> s # PQC_ONLY          \* PQC part present and valid
         [] Kind(tx) = "stripped" -> s # PQC_ONLY /\ ~strict /\ ~activated
         [] OTHER -> s # PQC_ONLY /\ ~strict             \* classical, forged: bare tx

Accepts(v, tx) == IF v \in upgraded THEN UpgradedAccepts(tx) ELSE LegacyAccepts(tx)
Acceptors(tx) == {v \in Validators : Accepts(v, tx)}
\* A block is final when >= 2/3 of the validators accept it (devnet/README.md).
QuorumAccepts(tx) == 3 * Cardinality(Acceptors(tx)) >= 2 * Cardinality(Validators)

-----------------------------------------------------------------------------
(* Actions.                                                                 *)

Upgrade(v) == v \notin upgraded
    /\ upgraded' = upgraded \cup {v}
    /\ UNCHANGED <<state, activated, pool>>

Activate == ~activated
    /\ activated' = TRUE
    /\ UNCHANGED <<upgraded, state, pool>>

BeginHybrid(a) == state[a] = CLASSICAL
    /\ state' = [state EXCEPT ![a] = HYBRID]
    /\ UNCHANGED <<upgraded, activated, pool>>

\* the engine's finalize(): refused unless the fleet gate passes
Finalize(a) == state[a] = HYBRID /\ GatePasses
    /\ state' = [state EXCEPT ![a] = FINALIZING]
    /\ UNCHANGED <<upgraded, activated, pool>>

Complete(a) == state[a] = FINALIZING
    /\ state' = [state EXCEPT ![a] = PQC_ONLY]
    /\ UNCHANGED <<upgraded, activated, pool>>

\* The honest signer sends what its state allows.
HonestKind(a) ==
    CASE state[a] = CLASSICAL -> "classical"
      [] state[a] = HYBRID -> "hybrid"
      [] OTHER -> "pqconly"

Send(a) == <<HonestKind(a), a>> \notin pool
    /\ pool' = pool \cup {<<HonestKind(a), a>>}
    /\ UNCHANGED <<upgraded, state, activated>>

\* Attacker: strip the PQC part off a broadcast hybrid transaction.
Strip(a) == <<"hybrid", a>> \in pool /\ <<"stripped", a>> \notin pool
    /\ pool' = pool \cup {<<"stripped", a>>}
    /\ UNCHANGED <<upgraded, state, activated>>

\* Attacker: forge a classical signature (broken classical key), any time.
Forge(a) == a \in Forgeable /\ <<"forged", a>> \notin pool
    /\ pool' = pool \cup {<<"forged", a>>}
    /\ UNCHANGED <<upgraded, state, activated>>

AllUpgraded == upgraded = Validators
AllPqcOnly == \A a \in Accounts : state[a] = PQC_ONLY

\* Terminal: everything migrated (keeps TLC's deadlock check meaningful).
Done == AllUpgraded /\ activated /\ AllPqcOnly /\ UNCHANGED vars

Init ==
    /\ upgraded = {}
    /\ state = [a \in Accounts |-> CLASSICAL]
    /\ activated = FALSE
    /\ pool = {}

Next ==
    \/ \E v \in Validators : Upgrade(v)
    \/ Activate
    \/ \E a \in Accounts :
        BeginHybrid(a) \/ Finalize(a) \/ Complete(a) \/ Send(a) \/ Strip(a) \/ Forge(a)
    \/ Done

\* Weak fairness on the upgrades and the migration steps (not on the attacker,
\* the honest traffic or activation).
Fairness ==
    /\ \A v \in Validators : WF_vars(Upgrade(v))
    /\ \A a \in Accounts : WF_vars(BeginHybrid(a)) /\ WF_vars(Finalize(a)) /\ WF_vars(Complete(a))

Spec == Init /\ [][Next]_vars /\ Fairness

-----------------------------------------------------------------------------
(* Properties.                                                              *)

TypeOK ==
    /\ upgraded \subseteq Validators
    /\ state \in [Accounts -> CLASSICAL..PQC_ONLY]
    /\ activated \in BOOLEAN
    /\ pool \subseteq Tx

\* A valid transaction of the post-migration world: an honest PQC-only tx
\* from a FINALIZING / PQC_ONLY sender.
ValidPqcOnly(tx) == Kind(tx) = "pqconly" /\ state[Sender(tx)] \in {FINALIZING, PQC_ONLY}

\* (1) A validator is stranded if it rejects a valid PQC-only transaction that
\* a finality quorum (>= 2/3, the upgraded majority) accepts: the chain moves
\* on without it.
Stranded(v) == \E tx \in pool : ValidPqcOnly(tx) /\ QuorumAccepts(tx) /\ ~Accepts(v, tx)
StrandedValidators == {v \in Validators : Stranded(v)}
NoStranding == StrandedValidators = {}

\* (2) Downgrade resistance of the upgraded verifiers.
\* After activation: no stripped tx of a registered (HYBRID+) sender ...
NoStrippedAfterActivation ==
    activated => \A v \in upgraded, tx \in pool :
        (Kind(tx) = "stripped" /\ state[Sender(tx)] >= HYBRID) => ~Accepts(v, tx)
\* ... and no forged classical tx from a FINALIZING / PQC_ONLY sender (in fact
\* from any HYBRID+ sender) ...
NoForgedAfterActivation ==
    activated => \A v \in upgraded, tx \in pool :
        (Kind(tx) = "forged" /\ state[Sender(tx)] >= HYBRID) => ~Accepts(v, tx)
\* ... and, whatever the activation, none from a FINALIZING / PQC_ONLY sender.
NoForgedFromRetired ==
    \A v \in upgraded, tx \in pool :
        (Kind(tx) = "forged" /\ state[Sender(tx)] >= FINALIZING) => ~Accepts(v, tx)

\* Upgraded validators never reject a valid PQC-only transaction.
UpgradedAcceptValid == \A v \in upgraded, tx \in pool : ValidPqcOnly(tx) => Accepts(v, tx)

\* The gate's evidence holds for as long as anyone is FINALIZING or beyond
\* (upgrades are monotone, so it cannot go stale).
GateHeld == (\E a \in Accounts : state[a] >= FINALIZING) => GatePasses

\* (3) Liveness: once every validator is upgraded, every account reaches PQC_ONLY
\* (and, with fair upgrades, every validator is upgraded eventually).
EventuallyAllUpgraded == <>AllUpgraded
UpgradedFleetMigratesAll == AllUpgraded ~> AllPqcOnly

\* Action property: validators never downgrade, accounts only move forward.
Monotone ==
    [][ /\ upgraded \subseteq upgraded'
        /\ \A a \in Accounts : state'[a] >= state[a]
        /\ (activated => activated')
        /\ pool \subseteq pool' ]_vars
=============================================================================
