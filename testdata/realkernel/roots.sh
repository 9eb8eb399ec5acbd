#!/usr/bin/env bash
# Debian roots holding the newest reference tools, for the lab's oracles.
#
#   testdata/realkernel/roots.sh [sid|trixie]...      (default: sid trixie)
#
# Builds `debootstrap --variant=minbase` roots at $CACHE/roots/<name> with crash,
# python3-drgn and makedumpfile (and their dependencies, no recommends), then
# records the tools' versions in $CACHE/roots/<name>/versions.json; sid's crash gets gdb's
# index cache (/root/.gdbinit, see configure below), on every run. Run a tool in a
# root with inroot.sh (same file paths inside and out). A root whose versions.json
# exists is not touched again (delete the directory to rebuild it); a root is built
# under roots/<name>.tmp and renamed when complete, under a per-root lock, so
# concurrent calls wait for each other instead of building twice.
#
# Cache:  ${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel   ($CACHE)
# Env:    LAB_SKIP_EXIT=N  exit status when the Debian mirror is unreachable
#                          (prints "SKIP: Debian mirror unreachable"; default 0)
#         ROOTS_MIRROR=URL the Debian archive to bootstrap from (default: the host's
#                          apt source for its own release)
# Needs root (debootstrap, chroot); installs debootstrap on the host when missing.
# Expected (Nov 2026): sid crash 9.0.2, drgn 0.3.0 (libkdumpfile), makedumpfile 1.7.8;
# trixie crash 8.0.6, drgn 0.0.31, makedumpfile 1.7.6. Each root < 400 MB.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VMTRIAGE_CACHE:-$HOME/.cache/vmtriage}/realkernel
ROOTS=$CACHE/roots
LOGS=$ROOTS/log
mkdir -p "$LOGS"

log() { printf '[roots %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
skip_mirror() {
	echo "SKIP: Debian mirror unreachable"
	exit "${LAB_SKIP_EXIT:-0}"
}
NETFAIL='Could not resolve|Could not connect|Failed to fetch|Temporary failure|Connection (failed|timed out|refused)|Unable to connect|Network is unreachable|No route to host|Failed getting release file|Couldn.t download'
[ "$(id -u)" = 0 ] || die "roots.sh needs root (debootstrap, chroot)"

TOOLS=(crash python3-drgn makedumpfile)
APT_OPTS=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -o Dpkg::Use-Pty=false)

# net LOG CMD...: a command that needs the mirror: unreachable -> SKIP, other failure -> die
net() {
	local logf=$1 rc=0; shift
	"$@" >"$logf" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		tail -30 "$logf" >&2
		grep -qiE "$NETFAIL" "$logf" && skip_mirror
		die "$* (exit $rc, log $logf)"
	fi
}

host_debootstrap() {
	command -v debootstrap >/dev/null && return 0
	log "installing debootstrap on the host"
	net "$LOGS/apt-update.log" apt-get -o DPkg::Lock::Timeout=600 update
	grep -qiE "$NETFAIL" "$LOGS/apt-update.log" && skip_mirror
	DEBIAN_FRONTEND=noninteractive net "$LOGS/apt-install.log" \
		apt-get -o DPkg::Lock::Timeout=600 install -y -q debootstrap
}

mirror() {
	if [ -n "${ROOTS_MIRROR:-}" ]; then echo "${ROOTS_MIRROR%/}"; return; fi
	local code uri
	code=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	uri=$(apt-get indextargets --format '$(REPO_URI)' "Codename: $code" 'Identifier: Packages' 2>/dev/null | head -1)
	[ -n "$uri" ] || uri=$(apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' 2>/dev/null |
		grep -v -- '-security' | head -1)
	[ -n "$uri" ] || die "no Debian apt source on the host: set ROOTS_MIRROR"
	echo "${uri%/}"
}

build() {
	local name=$1 root="$ROOTS/$1" tmp="$ROOTS/$1.tmp" m t0
	m=$(mirror); t0=$(date +%s)
	log "$name: debootstrap --variant=minbase from $m (a few minutes)"
	# the mirror answers? (apt's own messages tell unreachable from anything else)
	local rel; rel=$(mktemp -d); chmod 777 "$rel"
	net "$LOGS/$name-release.log" /usr/lib/apt/apt-helper download-file "$m/dists/$name/InRelease" "$rel/InRelease"
	rm -rf "$rel"
	umount_all "$tmp"; rm -rf "$tmp"; mkdir -p "$tmp"
	net "$LOGS/$name-debootstrap.log" debootstrap --variant=minbase --arch=amd64 "$name" "$tmp" "$m"
	# keep docs, man pages and locales out of everything installed from now on
	cat >"$tmp/etc/dpkg/dpkg.cfg.d/01-vmtriage-nodoc" <<-'EOF'
		path-exclude=/usr/share/doc/*
		path-exclude=/usr/share/man/*
		path-exclude=/usr/share/info/*
		path-exclude=/usr/share/locale/*
		path-exclude=/usr/share/lintian/*
		path-include=/usr/share/locale/locale.alias
	EOF
	cat >"$tmp/etc/apt/apt.conf.d/90-vmtriage" <<-'EOF'
		Acquire::Check-Valid-Until "false";
		APT::Install-Recommends "false";
		APT::Install-Suggests "false";
	EOF
	echo "deb $m $name main" >"$tmp/etc/apt/sources.list"
	cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
	log "$name: apt-get install ${TOOLS[*]}"
	net "$LOGS/$name-apt.log" chroot "$tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
		bash -c 'apt-get "$@" update && apt-get "$@" install -y -q '"${TOOLS[*]}"' && apt-get clean' _ "${APT_OPTS[@]}"
	grep -qiE "^(W|E): .*($NETFAIL)" "$LOGS/$name-apt.log" && { tail -20 "$LOGS/$name-apt.log" >&2; skip_mirror; }
	rm -rf "$tmp"/usr/share/{doc,man,info,lintian}/* "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin \
		"$tmp"/var/cache/debconf/*-old "$tmp"/var/log/*.log "$tmp"/var/log/apt/*
	find "$tmp/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
	find "$tmp" -xdev -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
	versions "$name" "$tmp" "$m" "$(($(date +%s) - t0))" >"$tmp/versions.json.tmp"
	mv "$tmp/versions.json.tmp" "$tmp/versions.json"
	umount_all "$tmp"
	rm -rf "$root"; mv "$tmp" "$root"
	log "$name: $(du -sh "$root" | cut -f1), $(summary "$root/versions.json")"
}

# anything left mounted under a root by an interrupted run of an older script
umount_all() {
	local d=$1
	[ -d "$d" ] || return 0
	awk -v p="$d/" 'index($2, p) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r mp; do
		umount -l "$mp" 2>/dev/null || true
	done
}

versions() { # name root mirror seconds -> JSON on stdout
	local name=$1 r=$2
	chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 python3 - "$name" "$3" "$4" <<-'PY'
		import json, re, subprocess, sys
		def sh(*c):
		    p = subprocess.run(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
		    return p.stdout.strip()
		def pkgs(*names):
		    p = subprocess.run(("dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Package} ${Version}\\n") + names,
		                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
		    return {f[1].split(":")[0]: f[2] for f in (l.split() for l in p.stdout.splitlines()) if len(f) == 3 and f[0] == "ii"}
		v = {"name": sys.argv[1], "mirror": sys.argv[2], "build_seconds": int(sys.argv[3]),
		     "os_release": dict(l.split("=", 1) for l in open("/etc/os-release").read().replace('"', "").splitlines() if "=" in l).get("PRETTY_NAME"),
		     "packages": pkgs("crash", "python3-drgn", "makedumpfile", "libkdumpfile*", "python3")}
		cv = sh("crash", "--version")
		m = re.search(r"crash (\S+)", cv)
		v["crash"] = m.group(1) if m else cv[:200]
		m = re.search(r"GNU gdb \(GDB\) (\S+)", cv)
		v["crash_gdb"] = m.group(1) if m else None
		import drgn
		v["drgn"] = drgn.__version__
		v["drgn_with_libkdumpfile"] = bool(getattr(drgn, "_with_libkdumpfile", False))
		m = re.search(r"makedumpfile: version (\S+)", sh("makedumpfile", "-v"))
		v["makedumpfile"] = m.group(1) if m else None
		v["python3"] = sys.version.split()[0]
		json.dump(v, sys.stdout, indent=1)
		print()
	PY
}

# configure NAME: settings that also apply to a root built by an older roots.sh (cheap,
# idempotent). crash 9's gdb (16.x) keeps the DWARF index it builds for a vmlinux in gdb's
# index cache (keyed by build-id, ~5-9 MB per vmlinux under /var/cache/gdb-index in the
# root): crash then starts in about half the CPU time and 60 % of the memory, with the
# same output. crash 8.0.6's gdb 10.2 gets slower with it (16 s, 1.7 GB): not there.
configure() {
	local r="$ROOTS/$1" gdbv want=
	gdbv=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("crash_gdb") or 0)' "$r/versions.json")
	if [ "${gdbv%%.*}" -ge 12 ] 2>/dev/null; then
		want=$'set index-cache directory /var/cache/gdb-index\nset index-cache enabled on\n'
		mkdir -p "$r/var/cache/gdb-index"
	fi
	if [ -n "$want" ]; then
		[ "$(cat "$r/root/.gdbinit" 2>/dev/null)" = "$(printf "$want")" ] || printf "$want" >"$r/root/.gdbinit"
	else
		rm -f "$r/root/.gdbinit"
	fi
}

summary() { /usr/bin/python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(" ".join(f"{k} {v.get(k)}" for k in ("crash","drgn","makedumpfile")), "libkdumpfile" if v.get("drgn_with_libkdumpfile") else "")' "$1"; }

host_debootstrap
[ $# -gt 0 ] || set -- sid trixie
for name in "$@"; do
	case $name in sid | trixie) ;; *) die "unknown root $name (sid trixie)" ;; esac
	exec 9>"$ROOTS/.$name.lock"
	flock 9
	if [ -s "$ROOTS/$name/versions.json" ]; then
		log "$name: cached ($ROOTS/$name: $(summary "$ROOTS/$name/versions.json"))"
	else
		build "$name"
	fi
	configure "$name"
	exec 9>&-
done
