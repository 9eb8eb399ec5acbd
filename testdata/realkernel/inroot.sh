#!/usr/bin/env bash
# Run a command inside one of the roots built by roots.sh.
#
#   testdata/realkernel/inroot.sh sid|trixie CMD [ARG...]
#   e.g. inroot.sh sid crash -s $CACHE/lines/6.1/vmlinux $CACHE/lines/6.1/dumps/A/mdf-zlib.vmcore
#        inroot.sh sid python3 -c 'import drgn; print(drgn.__version__)'
#
# The command runs chrooted in $CACHE/roots/<name> inside a private mount namespace
# (unshare --mount), where the whole lab cache $CACHE is bind-mounted at the SAME
# absolute path, plus /dev (rbind) and a fresh /proc: a file path under $CACHE means
# the same file inside and out. Extra host paths can be bound the same way with
# INROOT_BIND="PATH[:ro] ..." (the oracle binds its own directory read-only). The
# current directory is kept when it is visible inside, else it is /.
# The mounts exist only in that namespace: they vanish when the command exits (even
# killed), never show on the host, and concurrent calls do not see each other's.
# The command replaces this script (same PID), so its exit status, signals and
# rusage (peak RSS) are the command's. Environment inside: PATH, HOME=/root,
# LANG=C.UTF-8, TERM, TZ, and the variables named in INROOT_ENV="NAME ...".
# Needs root (unshare, chroot).
set -euo pipefail

CACHE=${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel
CACHE=$(realpath -m "$CACHE")
[ $# -ge 2 ] || { echo "usage: inroot.sh sid|trixie CMD [ARG...]" >&2; exit 2; }
name=$1; shift
case $name in sid | trixie) ;; *) echo "inroot.sh: unknown root $name (sid trixie)" >&2; exit 2 ;; esac
ROOT=$CACHE/roots/$name
[ -s "$ROOT/versions.json" ] || { echo "inroot.sh: no root $ROOT (run testdata/realkernel/roots.sh $name)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "inroot.sh: needs root" >&2; exit 2; }

envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "TERM=${TERM:-dumb}")
[ -n "${TZ:-}" ] && envs+=("TZ=$TZ")
for v in ${INROOT_ENV:-}; do [ -n "${!v+x}" ] && envs+=("$v=${!v}"); done

# mount points (created once in the root; harmless empty directories)
binds=("$CACHE")
for b in ${INROOT_BIND:-}; do binds+=("$b"); done
for b in "${binds[@]}"; do
	p=$(realpath -m "${b%:ro}")
	if [ -d "$p" ]; then mkdir -p "$ROOT$p"; else mkdir -p "$(dirname "$ROOT$p")"; [ -e "$ROOT$p" ] || : >"$ROOT$p"; fi
done

cwd=$PWD
exec unshare --mount --propagation private -- /bin/bash -c '
	set -e
	root=$1 cwd=$2 nb=$3; shift 3
	binds=("${@:1:nb}"); shift "$nb"
	ne=$1; shift
	envs=("${@:1:ne}"); shift "$ne"
	mount --rbind /dev "$root/dev"
	mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
	for b in "${binds[@]}"; do
		p=$(realpath -m "${b%:ro}")
		mount --bind "$p" "$root$p"
		case $b in *:ro) mount -o remount,bind,ro "$root$p" ;; esac
	done
	[ -d "$root$cwd" ] || cwd=/
	exec chroot "$root" /usr/bin/env -i "${envs[@]}" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
' inroot "$ROOT" "$cwd" "${#binds[@]}" "${binds[@]}" "${#envs[@]}" "${envs[@]}" "$@"
