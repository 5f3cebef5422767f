#!/bin/sh
# bench/rerun.sh: how long `faaslab run` takes on a study that is already
# finished, for a base revision of faaslab (default: main) and for this
# tree, side by side.
#
#   bench/rerun.sh [STUDY [BASE_REV [ROUNDS]]]
#
# It builds both binaries, runs the study once with this tree's binary to
# populate a results directory (a full run on the local sandbox: root and
# bubblewrap, a few minutes for the quickstart), copies it so each binary
# re-runs its own copy, then times ROUNDS re-runs of each, alternating
# base and this tree so that load on the machine hits both alike. It
# prints each binary's median and fastest wall time and the ratio
# (this tree / base). The first re-run of each binary is not timed: it
# may redo what the binary's previous run left (the base re-exports
# always; this tree records the finished run).
set -eu

study=${1:-experiments/quickstart.cue}
base=${2:-main}
rounds=${3:-9}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building $base and this tree" >&2
mkdir "$work/base-src"
git -C "$root" archive "$base" | tar -x -C "$work/base-src"
(cd "$work/base-src" && go build -o "$work/faaslab-base" ./cmd/faaslab)
(cd "$root" && go build -o "$work/faaslab-new" ./cmd/faaslab)

echo "populating: $work/faaslab-new run $study" >&2
(cd "$root" && "$work/faaslab-new" run "$study" --out "$work/results" --quiet >"$work/outcome.txt")
sed 's/^/outcome: /' "$work/outcome.txt" >&2
cp -a "$work/results" "$work/results-base"
cp -a "$work/results" "$work/results-new"

now() { date +%s%N; }
time_run() { # binary results -> nanoseconds
	t0=$(now)
	(cd "$root" && "$1" run "$study" --out "$2" --quiet >/dev/null)
	echo $(($(now) - t0))
}
time_run "$work/faaslab-base" "$work/results-base" >/dev/null
time_run "$work/faaslab-new" "$work/results-new" >/dev/null
: >"$work/base.ns"
: >"$work/new.ns"
i=0
while [ $i -lt "$rounds" ]; do
	time_run "$work/faaslab-base" "$work/results-base" >>"$work/base.ns"
	time_run "$work/faaslab-new" "$work/results-new" >>"$work/new.ns"
	i=$((i + 1))
done

stats() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%.3f %.3f", a[int((NR+1)/2)]/1e9, a[1]/1e9}'; }
set -- $(stats "$work/base.ns")
bmed=$1 bmin=$2
set -- $(stats "$work/new.ns")
nmed=$1 nmin=$2
printf 're-run of a finished %s, %d rounds, wall seconds\n' "$study" "$rounds"
printf '%-22s %8s %8s\n' binary median fastest
printf '%-22s %8s %8s\n' "base ($base)" "$bmed" "$bmin"
printf '%-22s %8s %8s\n' "this tree" "$nmed" "$nmin"
awk -v b="$bmed" -v n="$nmed" 'BEGIN {printf "ratio (this tree / base, medians): %.3f\n", n/b}'
