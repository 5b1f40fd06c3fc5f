----------------------------- MODULE FleetJudge -----------------------------
(***************************************************************************)
(* Fleet.tla's judgement written out as a table, so a test can hold the    *)
(* verifiers to it (tests/formal/test_fleet_judgement.py). One account;    *)
(* the initial states are every registered state x activation flag, and    *)
(* judged[k] = <<legacy accepts, upgraded accepts>> for a transaction of   *)
(* kind k from that account, by Fleet's LegacyAccepts / UpgradedAccepts.   *)
(* TLC lists the states with -dump; nothing else happens.                  *)
(***************************************************************************)
EXTENDS Fleet

VARIABLE judged

Sender1 == CHOOSE a \in Accounts : TRUE

JudgeInit ==
    /\ upgraded = Validators
    /\ pool = {}
    /\ state \in [Accounts -> {CLASSICAL, HYBRID, FINALIZING, PQC_ONLY}]
    /\ activated \in BOOLEAN
    /\ judged = [k \in Kinds |-> <<LegacyAccepts(<<k, Sender1>>), UpgradedAccepts(<<k, Sender1>>)>>]

JudgeNext == UNCHANGED <<vars, judged>>
=============================================================================
