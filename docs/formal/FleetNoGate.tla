------------------------------ MODULE FleetNoGate ------------------------------
(***************************************************************************)
(* The gate forced off (gate.py FleetGate(force=True), GateOn = FALSE in   *)
(* Fleet.tla): HYBRID -> FINALIZING whatever the fleet says.               *)
(*                                                                         *)
(* An account finalizes while a validator is still legacy; once the other  *)
(* validators are upgraded they form a 2/3 finality quorum that accepts    *)
(* the account's PQC-only transactions, which the legacy validator cannot  *)
(* read: TLC reports NoStranding violated (FleetNoGate.cfg). Everything    *)
(* else - actions, verifiers, invariants - is Fleet.tla unchanged.         *)
(***************************************************************************)
EXTENDS Fleet
=============================================================================
