#!/usr/bin/env bash
# test_slurm.sh: `deltabench sweep run --backend slurm` on a real one-node Slurm cluster started
# here, from a temporary directory (munged, slurmctld, slurmd; no systemd, no slurmdbd): the
# same small sweep (8 cells, one of which fails) runs on the local backend and as a job array;
# the failed cell is reported with its log on both; the gathered tables are identical. Every
# daemon it starts is stopped on any exit. Installs the packages when missing
# (scripts/install-deps.sh --slurm); exit 77 only when they cannot be installed.
#   DELTABENCH=bin/deltabench bash tests/cli/test_slurm.sh
set -u
cd "$(dirname "$0")/../.."
. tests/cli/lib.sh
D=$DELTABENCH

have() { command -v munged >/dev/null && command -v slurmctld >/dev/null &&
         command -v slurmd >/dev/null && command -v sbatch >/dev/null; }
export PATH=$PATH:/usr/sbin:/sbin
if ! have; then
  scripts/install-deps.sh --slurm >"$T/install.log" 2>&1
  have || { echo "SKIP: the Slurm packages (slurmctld slurmd slurm-client munge) cannot be installed here: $(tail -n 1 "$T/install.log")"; exit 77; }
fi

# ---- the cluster --------------------------------------------------------------------------
C=$T/slurm
mkdir -p "$C/state" "$C/spool"
chmod 755 "$T" "$C" # munged refuses a socket directory without execute permission for all
pids=()
stop_cluster() {
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$C/slurm.conf" ]; then
    timeout 5 scontrol shutdown >/dev/null 2>&1
  fi
  local p
  for p in "${pids[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null
  done
  if [ -s "$C/munged.pid" ]; then
    p=$(cat "$C/munged.pid")
    kill "$p" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null
  fi
  wait 2>/dev/null
  rm -rf "$T"
}
trap stop_cluster EXIT
trap 'exit 1' INT TERM

node=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { m = int($2 / 1024 / 2); print (m > 4096 ? 4096 : m) }' /proc/meminfo)
port=$((20000 + RANDOM % 20000))
head -c 1024 /dev/urandom > "$C/munge.key"
chmod 0400 "$C/munge.key"
munged --socket="$C/munge.socket.2" --key-file="$C/munge.key" --pid-file="$C/munged.pid" \
    --seed-file="$C/munge.seed" --log-file="$C/munged.log" --force >"$C/munged.out" 2>&1 ||
  { fail "munged did not start: $(cat "$C/munged.out" "$C/munged.log" 2>/dev/null | tail -n 3)"; finish; exit 1; }
cat > "$C/slurm.conf" <<EOF
ClusterName=dbtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$C/munge.socket.2
CredType=cred/munge
StateSaveLocation=$C/state
SlurmdSpoolDir=$C/spool
SlurmctldPidFile=$C/slurmctld.pid
SlurmdPidFile=$C/slurmd.pid
SlurmctldLogFile=$C/slurmctld.log
SlurmdLogFile=$C/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$C/jobcomp.txt
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$C/slurm.conf
slurmctld -D -c >"$C/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$node" >"$C/slurmd.out" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 1 100); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then up=1; break; fi
  sleep 0.2
done
if [ $up -ne 1 ]; then
  fail "the one-node cluster did not come up: $(tail -n 3 "$C/slurmctld.log" "$C/slurmd.log" 2>/dev/null)"
  finish; exit 1
fi

# ---- the sweep: 8 cells, one failing ------------------------------------------------------
W=$T/w
mkdir -p "$W"
for r in 1 2; do
  "$D" trace gen --arrival poisson --rate $r --models 8 --popularity zipf:1.5 --lengths fixed:64,16 \
      --duration 10 --seed 3 --out "$W/trace-r$r.csv" >/dev/null || fail "trace gen"
done
cat > "$W/grid.json" <<EOF
{
  "deltabench_sweep": 1,
  "command": "simulate",
  "args": ["--trace", "$W/trace-r{rate}.csv", "--model", "llama2-7b", "-q"],
  "axes": [
    {"name": "policy", "values": {"swap-2": ["--system", "swap", "--max-resident", "2"],
                                  "swap-0": ["--system", "swap", "--max-resident", "0"],
                                  "deltazip": ["--system", "deltazip"],
                                  "bitdelta": ["--system", "bitdelta"]}},
    {"name": "rate", "values": [1, 2]}
  ]
}
EOF
t0=$SECONDS
# run_sweep DESC ARGS...: a sweep run expected to fail (exit 1) on the two swap-0 cells, each
# reported with its log, then one last line; stderr in $T/err
run_sweep() {
  local desc=$1; shift
  ncheck=$((ncheck + 1))
  "$D" sweep run "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  [ $rc -eq 1 ] || fail "$desc: exit $rc, expected 1: $(tail -n 3 "$T/err")"
  grep -q "2 of 8 cells failed (first: cell 2, log " "$T/err" || fail "$desc: no last line: $(tail -n 2 "$T/err")"
  ! grep -qiE 'AddressSanitizer|runtime error' "$T/err" || fail "$desc: sanitizer report"
}
run_sweep "local run" "$W/grid.json" --dir "$W/local" -q
[ "$(wc -l < "$T/err")" -eq 3 ] || fail "local -q: expected 2 failure lines and a last line: $(cat "$T/err")"
run_sweep "slurm run" "$W/grid.json" --dir "$W/slurm" --backend slurm --poll 0.5 --time 5 \
    --sbatch-arg=--job-name=dbtest
cp "$T/err" "$T/slurm.err"
grep -q "cell 2 (policy=swap-0 rate=1) failed (slurm FAILED, exit 2): log $W/slurm/logs/" "$T/slurm.err" ||
  fail "slurm run: no 'failed (slurm FAILED, exit 2): log' line for cell 2: $(cat "$T/slurm.err")"
grep -q "submitted 8 cells as slurm job array" "$T/slurm.err" || fail "slurm run: no submission line"
log=$(sed -n 's/.*cell 2 .* log \(.*\.log\)$/\1/p' "$T/slurm.err" | head -n 1)
grep -q "max-resident" "$log" || fail "the failed cell's log ($log) does not name its error"
[ "$(find "$W/slurm/cells" -name '*.h5' | wc -l)" -eq 6 ] || fail "slurm: expected 6 run files"
scontrol -o show job 2>/dev/null | grep -q "JobName=dbtest" ||
  fail "--sbatch-arg did not reach sbatch (no job named dbtest)"
# a rerun submits only the failed cells (its array lists their two indices)
run_sweep "slurm rerun" "$W/grid.json" --dir "$W/slurm" --backend slurm --poll 0.5
grep -q -- "--array=2-3)" "$T/err" || fail "slurm rerun: not only cells 2-3 submitted: $(head -n 2 "$T/err")"

for b in local slurm; do
  expect_exit 0 "gather $b" -- "$D" sweep gather "$W/grid.json" --dir "$W/$b" --partial -q
done
if cmp -s "$W/local/summary.csv" "$W/slurm/summary.csv"; then :; else
  fail "the gathered tables differ: $(diff "$W/local/summary.csv" "$W/slurm/summary.csv" | head -n 4)"
fi
[ "$(wc -l < "$W/slurm/summary.csv")" -eq 7 ] || fail "gathered: expected 6 rows and a header"
# the HDF5 tables too, read back through export
"$D" export "$W/local/summary.h5" sweep > "$T/a.csv" && "$D" export "$W/slurm/summary.h5" sweep > "$T/b.csv" &&
  cmp -s "$T/a.csv" "$T/b.csv" || fail "the gathered HDF5 tables differ"
echo "sweeps and gathers took $((SECONDS - t0)) s"
finish
