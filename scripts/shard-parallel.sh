#!/usr/bin/env bash
# Runs one search as N shards with GNU parallel (here, or over the machines of an ssh login file that share this
# directory), then merges them: the search's results, report and plots, as one process would write them.
# Usage: scripts/shard-parallel.sh [--hosts FILE] N PROGRAM --preset SEARCH --out OUT [other flags...]
#   N            the number of shards (at most N run at once, one per job slot)
#   --hosts FILE GNU parallel's --sshloginfile: one ssh login per line (":" is this machine); every machine must see
#                PROGRAM, the data and OUT at the same paths (a shared file system)
# Every shard gets the same flags plus --shard K/N; the merge is PROGRAM --resume OUT/SEARCH once all have ended,
# even when some failed (it runs their missing trials). The exit code is the merge's.
# GNU parallel is the Debian package 'parallel' (scripts/install-deps.sh installs it).
set -euo pipefail

hosts=()
if [[ "${1:-}" == "--hosts" ]]; then
  [[ $# -ge 2 ]] || { echo "shard-parallel: --hosts needs a file" >&2; exit 2; }
  hosts=(--sshloginfile "$2" --workdir "$PWD")
  shift 2
fi
if [[ $# -lt 2 ]] || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/shard-parallel.sh [--hosts FILE] N PROGRAM --preset SEARCH --out OUT [flags...]" >&2
  exit 2
fi
shards=$1
program=$2
shift 2
command -v parallel >/dev/null || { echo "shard-parallel: GNU parallel is missing: run scripts/install-deps.sh" >&2; exit 2; }

# The merge needs the search's directory, OUT/SEARCH: both flags must be given (the last of each counts, as in the apps).
out="" preset=""
arguments=("$@")
for ((i = 0; i < ${#arguments[@]}; ++i)); do
  case "${arguments[i]}" in
    --out) out="${arguments[i + 1]:-}" ;;
    --out=*) out="${arguments[i]#--out=}" ;;
    --preset) preset="${arguments[i + 1]:-}" ;;
    --preset=*) preset="${arguments[i]#--preset=}" ;;
    --shard|--shard=*|--resume|--resume=*) echo "shard-parallel: give no ${arguments[i]%%=*}: the script adds it" >&2; exit 2 ;;
  esac
done
if [[ -z "$out" || -z "$preset" ]]; then
  echo "shard-parallel: give --out OUT and --preset SEARCH, so that the merge finds OUT/SEARCH" >&2
  exit 2
fi

# -q keeps every argument one word on the remote shell too; {} is the shard's number.
set +e
parallel -q --jobs "$shards" --halt never "${hosts[@]}" "$program" "$@" --shard "{}/$shards" ::: $(seq 0 $((shards - 1)))
failed=$?
set -e
[[ $failed -eq 0 ]] || echo "shard-parallel: $failed shard(s) failed; the merge runs their missing trials" >&2
exec "$program" --resume "$out/$preset"
