------------------------------ MODULE Migration ------------------------------
(***************************************************************************)
(* One key's migration secp256k1 -> ML-DSA-87 (issue #9, migration half).  *)
(*                                                                         *)
(* Mirrors chainplug/migration/{state,transitions,recovery}.py:           *)
(*   - the write-ahead log: a sequence of durable records (event names),   *)
(*     folded through the transition table of state.py;                    *)
(*   - the on-disk files: classical private key file, ML-DSA-87 key file   *)
(*     per generation, classical public-key backup;                        *)
(*   - the classical key handle in process memory;                         *)
(*   - every action performs exactly ONE durable step, named by the        *)
(*     crash-point site it corresponds to (DurableSteps); a Crash can      *)
(*     happen between any two of them (bounded by MaxCrashes);             *)
(*   - Recover mirrors recovery.recover(): each Recover step performs the  *)
(*     first durable fix the rules 3..6 call for, so a crash inside        *)
(*     recovery is modelled too; when nothing is left it reopens.          *)
(*                                                                         *)
(* StandardWAL = FALSE: Erasure-Before-WAL (the engine's order).          *)
(* StandardWAL = TRUE : CLASSICAL_ERASED logged BEFORE the erasure (the    *)
(*     textbook WAL order; see MigrationStandardWAL.tla) - must fail.      *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
    StandardWAL,    \* BOOLEAN: log CLASSICAL_ERASED before erasing (buggy)
    MaxCrashes,     \* bound on crashes (process kill at any crash point)
    MaxRollbacks,   \* bound on HYBRID -> CLASSICAL rollbacks (= max generation)
    MaxRestores     \* bound on operator restores of the classical key file

\* The per-key crash-point sites of chainplug.migration.crashpoints.CRASH_POINTS
\* (label = "<site>.<step>"). tests/formal/test_crash_points_in_model.py parses
\* this line and compares it with the engine's list.
DurableSteps == {"keys.classical.put", "keys.pqc.put", "keys.classical.wipe", "keys.pqc.wipe", "public.backup", "erase", "wal.append"}

\* Phases of state.py (ordered) and "no account yet".
NONE == 0
CLASSICAL == 1
HYBRID == 2
FINALIZING == 3
CLASSICAL_ERASED == 4
PQC_ONLY == 5
ILLEGAL == 99

\* state.TRANSITIONS (parsed and compared by the same test).
Trans(ph, e) ==
    CASE ph = NONE /\ e = "CREATE" -> CLASSICAL
      [] ph = CLASSICAL /\ e = "BEGIN_HYBRID" -> HYBRID
      [] ph = HYBRID /\ e = "FINALIZE" -> FINALIZING
      [] ph = HYBRID /\ e = "ROLLBACK" -> CLASSICAL
      [] ph = FINALIZING /\ e = "CLASSICAL_ERASED" -> CLASSICAL_ERASED
      [] ph = CLASSICAL_ERASED /\ e = "COMPLETE" -> PQC_ONLY
      [] OTHER -> ILLEGAL

RECURSIVE Fold(_)
Fold(s) == IF s = <<>> THEN NONE ELSE Trans(Fold(SubSeq(s, 1, Len(s) - 1)), s[Len(s)])

\* The order of the durable steps of transitions.erase_classical.
EraseOrder ==
    IF StandardWAL
    THEN <<"wal.append", "public.backup", "keys.classical.wipe", "erase">>
    ELSE <<"public.backup", "keys.classical.wipe", "erase", "wal.append">>

VARIABLES
    log,        \* the durable WAL records of this key (torn tail = never there)
    cls,        \* classical private key file present (usable) on disk
    restored,   \* ghost: the classical file on disk is an operator-restored copy
    pqc,        \* generations whose ML-DSA-87 key file is on disk
    backup,     \* classical PUBLIC key backup present
    mem,        \* a classical private key handle is live in process memory
    up,         \* process running and recovered (FALSE: crashed / recovering)
    pc,         \* next durable step of the transition in flight
    ei,         \* index into EraseOrder while pc = "erase"
    crashes, restores,
    loadedRetired, \* ghost: classical key loaded while the log said >= FINALIZING
    step        \* label of the last step (for traces)

vars == <<log, cls, restored, pqc, backup, mem, up, pc, ei, crashes, restores, loadedRetired, step>>

Phase == Fold(log)
Gen == Cardinality({i \in 1..Len(log) : log[i] = "ROLLBACK"})
Exists == log # <<>>

Commit(e) == log' = Append(log, e)

-----------------------------------------------------------------------------
(* Normal operation: up, one transition at a time.                          *)

Idle == up /\ pc = "idle"

\* create: classical key written -> CREATE committed
CreatePut == Idle /\ ~Exists /\ ~cls
    /\ cls' = TRUE /\ pc' = "create.commit" /\ step' = "keys.classical.put"
    /\ UNCHANGED <<log, restored, pqc, backup, mem, up, ei, crashes, restores, loadedRetired>>
CreateCommit == up /\ pc = "create.commit"
    /\ Commit("CREATE") /\ pc' = "idle" /\ step' = "wal.append"
    /\ UNCHANGED <<cls, restored, pqc, backup, mem, up, ei, crashes, restores, loadedRetired>>

\* session.load_classical(track=True): refused from FINALIZING on (classical_retired)
LoadClassical == Idle /\ cls /\ Exists
    /\ IF Phase >= FINALIZING
       THEN UNCHANGED <<mem, loadedRetired>>
       ELSE mem' = TRUE /\ loadedRetired' = (loadedRetired \/ Phase >= FINALIZING)
    /\ step' = "load"
    /\ UNCHANGED <<log, cls, restored, pqc, backup, up, pc, ei, crashes, restores>>

\* begin_hybrid: (classical key checked) PQC key written -> BEGIN_HYBRID committed
HybridPut == Idle /\ Phase = CLASSICAL /\ cls
    /\ pqc' = pqc \cup {Gen} /\ pc' = "hybrid.commit" /\ step' = "keys.pqc.put"
    /\ UNCHANGED <<log, cls, restored, backup, mem, up, ei, crashes, restores, loadedRetired>>
HybridCommit == up /\ pc = "hybrid.commit"
    /\ Commit("BEGIN_HYBRID") /\ pc' = "idle" /\ step' = "wal.append"
    /\ UNCHANGED <<cls, restored, pqc, backup, mem, up, ei, crashes, restores, loadedRetired>>

\* finalize: FINALIZE committed (erasure intent), then erase_classical runs on
Finalize == Idle /\ Phase = HYBRID
    /\ Commit("FINALIZE") /\ pc' = "erase" /\ ei' = 1 /\ step' = "wal.append"
    /\ UNCHANGED <<cls, restored, pqc, backup, mem, up, crashes, restores, loadedRetired>>

\* erase_classical: the steps of EraseOrder, one durable step each
EraseNext == IF ei = Len(EraseOrder) THEN pc' = "idle" /\ ei' = 1 ELSE pc' = "erase" /\ ei' = ei + 1
EraseBackup == up /\ pc = "erase" /\ EraseOrder[ei] = "public.backup"
    /\ backup' = TRUE /\ EraseNext /\ step' = "public.backup"
    /\ UNCHANGED <<log, cls, restored, pqc, mem, up, crashes, restores, loadedRetired>>
EraseWipe == up /\ pc = "erase" /\ EraseOrder[ei] = "keys.classical.wipe"
    /\ cls' = FALSE /\ restored' = FALSE /\ EraseNext /\ step' = "keys.classical.wipe"
    /\ UNCHANGED <<log, pqc, backup, mem, up, crashes, restores, loadedRetired>>
EraseZero == up /\ pc = "erase" /\ EraseOrder[ei] = "erase"
    /\ mem' = FALSE /\ EraseNext /\ step' = "erase"
    /\ UNCHANGED <<log, cls, restored, pqc, backup, up, crashes, restores, loadedRetired>>
EraseCommit == up /\ pc = "erase" /\ EraseOrder[ei] = "wal.append"
    /\ Commit("CLASSICAL_ERASED") /\ EraseNext /\ step' = "wal.append"
    /\ UNCHANGED <<cls, restored, pqc, backup, mem, up, crashes, restores, loadedRetired>>

\* complete: PQC_ONLY committed
Complete == Idle /\ Phase = CLASSICAL_ERASED
    /\ Commit("COMPLETE") /\ step' = "wal.append"
    /\ UNCHANGED <<cls, restored, pqc, backup, mem, up, pc, ei, crashes, restores, loadedRetired>>

\* roll_back: ROLLBACK committed (generation + 1) -> old PQC key wiped
Rollback == Idle /\ Phase = HYBRID /\ Gen < MaxRollbacks
    /\ Commit("ROLLBACK") /\ pc' = "rollback.wipe" /\ step' = "wal.append"
    /\ UNCHANGED <<cls, restored, pqc, backup, mem, up, ei, crashes, restores, loadedRetired>>
RollbackWipe == up /\ pc = "rollback.wipe"
    /\ pqc' = pqc \ {Gen - 1} /\ pc' = "idle" /\ step' = "keys.pqc.wipe"
    /\ UNCHANGED <<log, cls, restored, backup, mem, up, ei, crashes, restores, loadedRetired>>

\* Terminal: nothing left to do (keeps TLC's deadlock check meaningful)
Done == Idle /\ Phase = PQC_ONLY /\ UNCHANGED vars

-----------------------------------------------------------------------------
(* Faults.                                                                  *)

\* SIGKILL between any two durable steps: memory lost, in-flight step abandoned.
\* (A kill inside a site, before its rename, leaves only a temp file, which is
\* never authoritative and is wiped by recovery: same as a kill before the site.)
\* Also while recovering (~up): recovery starts over from the durable state.
Crash == crashes < MaxCrashes
    /\ up' = FALSE /\ mem' = FALSE /\ pc' = "idle" /\ ei' = 1
    /\ crashes' = crashes + 1 /\ step' = "crash"
    /\ UNCHANGED <<log, cls, restored, pqc, backup, restores, loadedRetired>>

\* While the process is down, an operator restores the classical key file from
\* an old backup (the resurrection scenario of recovery rule 4).
Restore == ~up /\ Exists /\ ~cls /\ restores < MaxRestores
    /\ cls' = TRUE /\ restored' = TRUE /\ restores' = restores + 1 /\ step' = "restore"
    /\ UNCHANGED <<log, pqc, backup, mem, up, pc, ei, crashes, loadedRetired>>

-----------------------------------------------------------------------------
(* Recovery (recovery.recover), one durable step per action, rules in order. *)

Recover == ~up
    /\ UNCHANGED <<crashes, restores, pc, ei, mem>>
    /\ IF ~Exists /\ cls THEN            \* rule 3: key file without CREATE -> CREATE
           Commit("CREATE") /\ step' = "wal.append"
           /\ loadedRetired' = (loadedRetired \/ Phase >= FINALIZING) \* loads the key
           /\ UNCHANGED <<cls, restored, pqc, backup, up>>
       ELSE IF Exists /\ Phase >= CLASSICAL_ERASED /\ cls THEN \* rule 4: never loaded, wiped
           cls' = FALSE /\ restored' = FALSE /\ step' = "keys.classical.wipe"
           /\ UNCHANGED <<log, pqc, backup, up, loadedRetired>>
       ELSE IF \E g \in pqc : g < Gen THEN  \* rule 5a: stale PQC key wiped
           pqc' = pqc \ {CHOOSE g \in pqc : g < Gen} /\ step' = "keys.pqc.wipe"
           /\ UNCHANGED <<log, cls, restored, backup, up, loadedRetired>>
       ELSE IF Phase = CLASSICAL /\ Gen \in pqc THEN \* rule 5b: BEGIN_HYBRID completed
           Commit("BEGIN_HYBRID") /\ step' = "wal.append"
           /\ UNCHANGED <<cls, restored, pqc, backup, up, loadedRetired>>
       ELSE IF Phase = FINALIZING /\ ~backup THEN \* rule 6: erase_classical, idempotent,
                                                \* in its own order (EraseOrder)
           backup' = TRUE /\ step' = "public.backup"
           /\ UNCHANGED <<log, cls, restored, pqc, up, loadedRetired>>
       ELSE IF Phase = FINALIZING /\ cls THEN
           cls' = FALSE /\ restored' = FALSE /\ step' = "keys.classical.wipe"
           /\ UNCHANGED <<log, pqc, backup, up, loadedRetired>>
       ELSE IF Phase = FINALIZING /\ step # "erase" THEN \* erase_classical zeroes handles:
           step' = "erase"                    \* none is live after a crash (mem = FALSE)
           /\ UNCHANGED <<log, cls, restored, pqc, backup, up, loadedRetired>>
       ELSE IF Phase = FINALIZING THEN
           Commit("CLASSICAL_ERASED") /\ step' = "wal.append"
           /\ UNCHANGED <<cls, restored, pqc, backup, up, loadedRetired>>
       ELSE                              \* rule 7 only reports; the store reopens
           up' = TRUE /\ step' = "recovered"
           /\ UNCHANGED <<log, cls, restored, pqc, backup, loadedRetired>>

-----------------------------------------------------------------------------

Init ==
    /\ log = <<>> /\ cls = FALSE /\ restored = FALSE /\ pqc = {} /\ backup = FALSE
    /\ mem = FALSE /\ up = TRUE /\ pc = "idle" /\ ei = 1
    /\ crashes = 0 /\ restores = 0 /\ loadedRetired = FALSE /\ step = "init"

Next ==
    \/ CreatePut \/ CreateCommit \/ LoadClassical \/ HybridPut \/ HybridCommit
    \/ Finalize \/ EraseBackup \/ EraseWipe \/ EraseZero \/ EraseCommit
    \/ Complete \/ Rollback \/ RollbackWipe \/ Done
    \/ Crash \/ Restore \/ Recover

Spec == Init /\ [][Next]_vars /\ WF_vars(Recover)

-----------------------------------------------------------------------------
(* Properties.                                                              *)

TypeOK ==
    /\ cls \in BOOLEAN /\ restored \in BOOLEAN /\ backup \in BOOLEAN /\ mem \in BOOLEAN
    /\ pqc \subseteq 0..MaxRollbacks /\ up \in BOOLEAN
    /\ pc \in {"idle", "create.commit", "hybrid.commit", "erase", "rollback.wipe"}
    /\ ei \in 1..Len(EraseOrder)
    /\ step \in DurableSteps \cup {"init", "load", "crash", "restore", "recovered"}

\* Every log is a legal path through state.TRANSITIONS.
LogLegal == Phase # ILLEGAL

\* Erasure: once CLASSICAL_ERASED is durable, no classical private key is on
\* disk (except a copy an operator restored, which recovery wipes unloaded) and
\* no classical handle is live in memory.
ErasedMeansGone ==
    Phase >= CLASSICAL_ERASED => ((~cls \/ restored) /\ ~mem)

\* The same, restricted to what a crash leaves behind (the buggy variant's check).
CrashLeavesNoErasedKey ==
    (~up /\ Phase >= CLASSICAL_ERASED) => (~cls \/ restored)

\* Never loaded once FINALIZING is durable.
NeverLoadedRetired == ~loadedRetired

\* Never both keys lost: each key the durable state requires is on disk.
RequiredKeysPresent ==
    /\ (Exists /\ Phase <= HYBRID) => cls
    /\ Phase >= HYBRID => Gen \in pqc
NeverBothLost == Exists => ((Phase <= HYBRID /\ cls) \/ Gen \in pqc)

\* What an open, idle (recovered) store looks like.
Consistent ==
    /\ RequiredKeysPresent
    /\ ~Exists => (~cls /\ pqc = {})
    /\ pqc \subseteq {Gen}
    /\ (Gen \in pqc) => Phase >= HYBRID
    /\ Phase # FINALIZING
    /\ Phase >= FINALIZING => (~cls /\ backup /\ ~mem)
IdleIsConsistent == (up /\ pc = "idle") => Consistent

\* Temporal: recovery always reaches a consistent, open store.
RecoveryReachesConsistent == (~up) ~> (up /\ Consistent)

\* Action property: the log is append-only, and (generation, phase) never
\* decreases; the phase goes down only by a ROLLBACK record.
LogMonotone ==
    [][ /\ Len(log') >= Len(log)
        /\ SubSeq(log', 1, Len(log)) = log
        /\ (Gen' > Gen \/ (Gen' = Gen /\ Phase' >= Phase))
        /\ (Phase' < Phase => log'[Len(log')] = "ROLLBACK")
      ]_vars
=============================================================================
