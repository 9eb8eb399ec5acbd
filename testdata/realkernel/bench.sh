#!/usr/bin/env bash
# Time vmtriage, crash and drgn answering "which tasks are UN and which dio each
# waits on" for one lab dump, with peak RSS (/usr/bin/time -v), side by side.
#
#   testdata/realkernel/bench.sh [DUMP [VMLINUX]]
#   default DUMP: $CACHE/dumps/B/elf-paging.vmcore, VMLINUX: $CACHE/vmlinux
#
# vmtriage is built once (go build) and the binary is timed; "go run" adds the
# compile. Outputs go to ${BENCH_OUT:-/tmp/vmtriage-bench}/. drgn 0.0.22 cannot
# read QEMU's paging:false ELF nor flattened files: it is reported as failing there.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel
DUMP=${1:-$CACHE/dumps/B/elf-paging.vmcore}
VMLINUX=${2:-$CACHE/vmlinux}
OUT=${BENCH_OUT:-/tmp/vmtriage-bench}
mkdir -p "$OUT"
[ -r "$DUMP" ] || { echo "bench: no dump $DUMP (run lab.sh first)" >&2; exit 2; }

measure() { # measure NAME OUTFILE cmd...: prints "NAME seconds rssMB rc"
	local name=$1 out=$2; shift 2
	/usr/bin/time -v -o "$OUT/$name.time" "$@" >"$out" 2>"$OUT/$name.err"
	local rc=$?
	local wall rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/$name.time")
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$OUT/$name.time")
	printf '%-10s %10s %8s MB  rc=%s\n' "$name" "$wall" "$rss" "$rc"
}

echo "dump:    $DUMP ($(du -h "$DUMP" | cut -f1))"
echo "vmlinux: $VMLINUX"
echo "go build ./cmd/vmtriage ..."
t0=$(date +%s.%N)
(cd "$ROOT" && go build -o "$OUT/vmtriage" ./cmd/vmtriage) || { echo "bench: go build failed" >&2; exit 2; }
echo "  build $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s"

# the dio addresses drgn found for this scenario, so that crash prints the same objects
DRGNJSON=$(dirname "$DUMP")/drgn.json
CMD="$OUT/crash.cmd"
{
	echo "ps -m"
	echo "foreach UN bt"
	if [ -s "$DRGNJSON" ]; then
		/usr/bin/python3 -c 'import json,sys
for t in json.load(open(sys.argv[1]))["un_tasks"]:
    if "dio" in t: print("struct dio.refcount,bio_list,waiter,is_async,result", t["dio"]["dio"])' "$DRGNJSON"
	fi
	echo quit
} >"$CMD"

printf '%-10s %10s %11s\n' tool wall "peak RSS"
measure vmtriage "$OUT/vmtriage.json" "$OUT/vmtriage" analyze "$DUMP" --vmlinux "$VMLINUX" --format json
MODS=$(find "$CACHE/debug-modules" -name '*.ko' 2>/dev/null | tr '\n' ' ')
# shellcheck disable=SC2086
measure drgn "$OUT/drgn.json" /usr/bin/python3 "$HERE/oracle_drgn.py" "$DUMP" "$VMLINUX" $MODS
measure crash "$OUT/crash.txt" crash -s "$VMLINUX" "$DUMP" -i "$CMD"
echo
echo "answers:"
/usr/bin/python3 -c 'import json,sys
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    print("  vmtriage: no JSON:", open(sys.argv[2]).read().strip().splitlines()[:2]); sys.exit()
for t in r.get("hung_tasks") or []:
    print("  vmtriage: UN pid %s %s wait %s" % (t.get("pid"), t.get("comm"), t.get("wait_channel")))
for f in r.get("findings") or []:
    e = f.get("evidence") or {}
    print("  vmtriage: finding %s: dio %s refcount %s waiter %s bio_list %s" % (f.get("rule"), e.get("dio"),
          e.get("refcount"), e.get("waiter"), e.get("bio_list")))' "$OUT/vmtriage.json" "$OUT/vmtriage.err"
/usr/bin/python3 -c 'import json,sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("  drgn: no answer:", open(sys.argv[2]).read().strip().splitlines()[-1:]); sys.exit()
for t in d["un_tasks"]:
    dio = t.get("dio") or {}
    print("  drgn: UN pid %d %s dio %s refcount %s waiter %s bio_list %s" % (t["pid"], t["comm"],
          dio.get("dio"), dio.get("refcount"), dio.get("waiter"), dio.get("bio_list")))' "$OUT/drgn.json" "$OUT/drgn.err"
echo "  crash: $(grep -cE '^ *[0-9]+ .* UN ' "$OUT/crash.txt") UN tasks in ps; dio fields: $(grep -E 'refcount|waiter' "$OUT/crash.txt" | tr -s ' \n' ' ')"
echo "(full outputs in $OUT)"
