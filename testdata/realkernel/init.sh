#!/bin/sh
# /init of the lab's initramfs (busybox). Stages the scenario named by
# vmtriage.scenario= on the kernel command line, prints VMTRIAGE-* markers on
# the console (ttyS0) and then runs commands the host sends on ttyS1:
#   host -> ttyS1:  "<id> <shell command>\n"
#   guest -> ttyS0: "VMTRIAGE-DONE <id> rc=<status>"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DM_DISABLE_UDEV=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/mapper /tmp /mnt
exec </dev/console >/dev/console 2>&1

SC=
HT=
for x in $(cat /proc/cmdline); do
	case $x in
	vmtriage.scenario=*) SC=${x#vmtriage.scenario=} ;;
	vmtriage.hung=*) HT=${x#vmtriage.hung=} ;;
	esac
done
mark() { echo "VMTRIAGE-$*"; }
fail() { mark "FAIL $*"; cat /proc/*/stack >/dev/null 2>&1; sleep 2; poweroff -f; }

# qemu_fw_cfg writes the VMCOREINFO address to QEMU's -device vmcoreinfo: without it
# QEMU's dumps carry no VMCOREINFO note and drgn rejects them.
modprobe qemu_fw_cfg || echo "VMTRIAGE-WARN no qemu_fw_cfg"
mark "BOOT release=$(uname -r) scenario=$SC cpus=$(nproc) fw_cfg=$(ls /sys/firmware/qemu_fw_cfg/by_name/etc 2>/dev/null | grep -c vmcoreinfo)"
echo 0 >/proc/sys/kernel/kptr_restrict
# KASLR: the host subtracts the vmlinux's addresses from these.
mark "KALLSYMS $(grep -E ' (_stext|_text|init_task|page_offset_base)$' /proc/kallsyms | awk '{printf "%s=0x%s ", $3, $1}')"

# find_writer PATTERN [SECS]: the first thread in D state whose kernel stack has PATTERN
# (one grep over every status file per round: a fork per thread is slow under TCG)
find_writer() {
	i=0
	while [ $i -lt $((${2:-30} * 5)) ]; do
		for st in $(grep -l "^State:.*D" /proc/[0-9]*/task/[0-9]*/status 2>/dev/null); do
			d=${st%/status}
			grep -q "$1" "$d/stack" 2>/dev/null || continue
			echo "${d##*/}"
			return 0
		done
		i=$((i + 1))
		usleep 200000
	done
	return 1
}
show() { # show TID: print comm and kernel stack on the console
	echo "--- tid $1 comm $(cat /proc/$1/comm 2>/dev/null) state $(grep State /proc/$1/status 2>/dev/null | tr -s ' \t' ' ')"
	sed 's/^/    /' /proc/$1/stack 2>/dev/null
}

modprobe brd rd_nr=1 rd_size=65536 || fail "modprobe brd"
modprobe dm-mod || fail "modprobe dm-mod"
SECT=$(blockdev --getsz /dev/ram0)
dmsetup create lab --table "0 $SECT linear /dev/ram0 0" || fail "dmsetup create"
[ -b /dev/mapper/lab ] || fail "no /dev/mapper/lab"
if [ -n "$HT" ]; then echo "$HT" >/proc/sys/kernel/hung_task_timeout_secs; fi
mark "HUNG hung_task_timeout_secs=$(cat /proc/sys/kernel/hung_task_timeout_secs)"

case $SC in
A | B)
	# vfat: fat_direct_IO -> blockdev_direct_IO. Overwrite inside allocated space.
	modprobe nls_cp437; modprobe nls_iso8859-1
	modprobe vfat || fail "modprobe vfat"
	mkfs.vfat /dev/mapper/lab >/dev/null || fail mkfs.vfat
	mount -t vfat -o codepage=437,iocharset=iso8859-1 /dev/mapper/lab /mnt || fail "mount vfat"
	gnudd if=/dev/urandom of=/mnt/f bs=1M count=4 status=none || fail "fill"
	sync
	cat /mnt/f >/dev/null # fat_get_block's metadata in cache before suspending
	dmsetup suspend --nolockfs lab || fail "dmsetup suspend"
	gnudd if=/dev/zero of=/mnt/f bs=1M count=1 oflag=direct conv=notrunc status=none &
	W=$(find_writer blockdev_direct_IO 60) || fail "no writer in [__|do_]blockdev_direct_IO"
	show "$W"
	mark "READY scenario=$SC writer=$W comm=$(cat /proc/$W/comm) fs=vfat dev=dm-0 op=dd-oflag-direct-1MiB-at-0"
	;;
C)
	# JFS + libaio: 1 MiB direct write across a hole of a sparse file -> partial, is_async 1.
	modprobe jfs || fail "modprobe jfs"
	mkfs.jfs -q /dev/mapper/lab >/dev/null || fail mkfs.jfs
	mount -t jfs /dev/mapper/lab /mnt || fail "mount jfs"
	# allocated [1 MiB, 1.5 MiB), holes elsewhere, size 4 MiB
	gnudd if=/dev/urandom of=/mnt/f bs=512K count=1 seek=2 status=none || fail "fill"
	truncate -s 4M /mnt/f
	sync
	cat /mnt/f >/dev/null
	dmsetup suspend --nolockfs lab || fail "dmsetup suspend"
	fio --name=lab --thread --filename=/mnt/f --ioengine=libaio --direct=1 --rw=write \
		--bs=1M --size=1M --offset=1M --iodepth=1 --fallocate=none --create_on_open=0 \
		--output=/tmp/fio.out >/dev/null 2>&1 &
	W=$(find_writer blockdev_direct_IO 90) || fail "no writer in [__|do_]blockdev_direct_IO"
	show "$W"
	mark "READY scenario=$SC writer=$W comm=$(cat /proc/$W/comm) fs=jfs dev=dm-0 op=fio-libaio-1MiB-at-1MiB-hole-from-1.5MiB"
	;;
D)
	# ext4/jbd2: a handle holder blocks on an inode-table read; the commit waits on t_updates.
	modprobe crc32c_generic; modprobe ext4 || fail "modprobe ext4"
	# no lazy inode-table init (ext4lazyinit would hold a handle across its own zeroout I/O),
	# nodelalloc so that write_begin takes the handle before reading the page
	mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 /dev/mapper/lab || fail mkfs.ext4
	mount -t ext4 -o commit=5,nodelalloc,noinit_itable /dev/mapper/lab /mnt || fail "mount ext4"
	for i in 1 2 3 4 5 6 7 8; do echo "file $i" >/mnt/f$i; done
	sync
	# pin the inodes and dentries so that only the page cache and buffers go away
	exec 3>>/mnt/f1 4>>/mnt/f2 5>>/mnt/f3 6>>/mnt/f4 7>>/mnt/f5 8>>/mnt/f6
	sleep 1
	echo 3 >/proc/sys/vm/drop_caches
	dmsetup suspend --nolockfs lab || fail "dmsetup suspend"
	app() { echo "$2" | gnudd of=/mnt/$1 oflag=append conv=notrunc status=none; }
	# handle holder: ext4_write_begin starts a handle, then reads the file's last block
	app f1 a &
	W=$(find_writer ext4_write_begin 30) || W=$(find_writer ext4_ 5) || fail "no handle holder blocked in ext4"
	show "$W"
	# the 5 s commit timer locks the transaction and waits for t_updates
	J=$(find_writer jbd2_journal_commit_transaction 30) || fail "jbd2 not in jbd2_journal_commit_transaction"
	show "$J"
	app f2 b &
	app f3 c &
	app f4 d &
	app f5 e &
	sync &
	sleep 3
	WAITERS=
	for s in /proc/[0-9]*/task/[0-9]*/stack; do
		grep -q wait_transaction_locked "$s" 2>/dev/null || continue
		d=${s%/stack}; WAITERS="$WAITERS${WAITERS:+,}${d##*/}"
		show "${d##*/}"
	done
	[ -n "$WAITERS" ] || fail "no task in wait_transaction_locked"
	for s in /proc/[0-9]*/task/[0-9]*/stack; do
		d=${s%/stack}; case ",$WAITERS,$W,$J," in *",${d##*/},"*) continue ;; esac
		grep -q "^State:.*D" "$d/status" 2>/dev/null && show "${d##*/}"
	done
	mark "READY scenario=$SC writer=$W comm=$(cat /proc/$W/comm) jbd2=$J jbd2comm=$(cat /proc/$J/comm) waiters=$WAITERS fs=ext4 dev=dm-0"
	;;
E)
	# a chain on an inode's i_rwsem: an extending O_DIRECT write holds it (exclusive) across
	# iomap_dio_rw while its bio sits on the suspended device; three more tasks queue on it
	modprobe crc32c_generic; modprobe ext4 || fail "modprobe ext4"
	mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 /dev/mapper/lab || fail mkfs.ext4
	# commit=600: no journal commit (which would block on the device too) during the scenario
	mount -t ext4 -o commit=600,noinit_itable /dev/mapper/lab /mnt || fail "mount ext4"
	gnudd if=/dev/urandom of=/mnt/f bs=1M count=4 status=none || fail "fill"
	sync
	cat /mnt/f >/dev/null
	dmsetup suspend --nolockfs lab || fail "dmsetup suspend"
	# past EOF: ext4_dio_write_iter takes inode_lock (not shared), iomap_dio_rw waits for the bio
	gnudd if=/dev/zero of=/mnt/f bs=1M count=1 seek=4 oflag=direct conv=notrunc status=none &
	W=$(find_writer iomap_dio_rw 60) || fail "no writer in __iomap_dio_rw"
	show "$W"
	# queued behind it: a buffered append (ext4_buffered_write_iter: inode_lock), a truncate
	# (do_truncate: inode_lock) and an O_DIRECT overwrite (ext4_dio_write_iter: inode_lock_shared)
	(echo appended >>/mnt/f) &
	sleep 1
	truncate -s 2M /mnt/f &
	sleep 1
	gnudd if=/dev/zero of=/mnt/f bs=4k count=1 oflag=direct conv=notrunc status=none &
	sleep 2
	# the waiters: every other D task (/proc/PID/stack hides the __sched lock functions,
	# down_write/rwsem_down_*_slowpath: it shows ext4_buffered_write_iter, do_truncate,
	# ext4_file_write_iter; the drgn check verifies each waits on the writer's i_rwsem)
	WAITERS=
	for st in $(grep -l "^State:.*D" /proc/[0-9]*/task/[0-9]*/status 2>/dev/null); do
		d=${st%/status}
		[ "${d##*/}" = "$W" ] && continue
		show "${d##*/}"
		WAITERS="$WAITERS${WAITERS:+,}${d##*/}"
	done
	[ -n "$WAITERS" ] || fail "no task queued on the i_rwsem"
	mark "READY scenario=$SC writer=$W comm=$(cat /proc/$W/comm) waiters=$WAITERS fs=ext4 dev=dm-0 op=dd-oflag-direct-1MiB-at-4MiB-extending"
	;;
F | G | G-legit | H | H-legit)
	# labmod.ko (testdata/realkernel/labmod): its module_init returns once the state is staged
	case $SC in
	F) M=abba ;; G) M=lost-completion ;; G-legit) M=completion ;; H) M=lost-mutex ;; H-legit) M=mutex ;;
	esac
	[ -e /lib/modules/labmod.ko ] || fail "no labmod.ko in the initramfs (lab.sh labmod step)"
	insmod /lib/modules/labmod.ko mode=$M || fail "insmod labmod.ko mode=$M"
	R=$(dmesg | grep 'labmod: READY' | tail -1)
	[ -n "$R" ] || fail "labmod: no READY line in dmesg"
	LM_waiter=0 LM_owner=0 LM_a=0 LM_b=0 LM_object=
	for kv in ${R#*READY }; do
		case $kv in waiter=* | owner=* | a=* | b=* | object=* | m1=* | m2=* | done=*) eval "LM_$kv" ;; esac
	done
	for p in $LM_waiter $LM_owner $LM_a $LM_b; do [ "$p" = 0 ] || show "$p"; done
	W=$LM_waiter
	[ "$SC" = F ] && W=$LM_a
	mark "READY scenario=$SC writer=$W comm=$(cat /proc/$W/comm) mode=$M waiter=$LM_waiter owner=$LM_owner a=$LM_a b=$LM_b object=$LM_object m1=$LM_m1 m2=$LM_m2 done=$LM_done"
	;;
*)
	fail "unknown scenario '$SC'"
	;;
esac

stty -F /dev/ttyS1 raw -echo 2>/dev/null
mark "CMDLOOP ttyS1"
while read -r id cmd; do
	[ -n "$id" ] || continue
	sh -c "$cmd" </dev/null
	mark "DONE $id rc=$?"
done </dev/ttyS1
mark "CMDLOOP-EOF"
while :; do sleep 3600; done
