------------------------- MODULE MigrationStandardWAL -------------------------
(***************************************************************************)
(* The BUGGY variant: standard write-ahead-log order. CLASSICAL_ERASED is  *)
(* committed to the log BEFORE the classical key is backed up, wiped and   *)
(* zeroed (EraseOrder with StandardWAL = TRUE in Migration.tla):           *)
(*                                                                         *)
(*   FINALIZE -> CLASSICAL_ERASED (fsync) -> public.backup ->              *)
(*   keys.classical.wipe -> erase (zero memory)                            *)
(*                                                                         *)
(* A crash after the commit and before the wipe leaves the log claiming    *)
(* erasure while the classical private key is still on disk: TLC reports   *)
(* CrashLeavesNoErasedKey violated (MigrationStandardWAL.cfg). Everything  *)
(* else - actions, recovery, invariants - is Migration.tla unchanged.      *)
(***************************************************************************)
EXTENDS Migration
=============================================================================
