package seedgen

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/vmcore/dumpwrite"
)

// Variant selects a negative variant of the first core.
type Variant string

// The variants of rhel4-1822328.
const (
	Positive Variant = ""
	InFlight Variant = "inflight" // refcount 2: the I/O really is in flight
	NoWaiter Variant = "nowaiter" // dio->waiter NULL
	Running  Variant = "running"  // the task is running
)

// Output describes one file Generate writes.
type Output struct {
	Name    string
	Core    string
	Variant Variant
	Format  string // "elf" or "kdump"
}

// Outputs lists the files Generate writes besides the vmlinux.
func Outputs() []Output {
	return []Output{
		{"rhel4-1822328.elf", "rhel4-1822328", Positive, "elf"},
		{"rhel4-1822328.kdump", "rhel4-1822328", Positive, "kdump"},
		{"rhel4-20080616.elf", "rhel4-20080616", Positive, "elf"},
		{"rhel4-20080616.kdump", "rhel4-20080616", Positive, "kdump"},
		{"rhel4-1822328-inflight.elf", "rhel4-1822328", InFlight, "elf"},
		{"rhel4-1822328-nowaiter.elf", "rhel4-1822328", NoWaiter, "elf"},
		{"rhel4-1822328-running.elf", "rhel4-1822328", Running, "elf"},
	}
}

// Generate writes the vmlinux (copied from vmlinuxPath) and every dump of
// Outputs into outDir.
func Generate(outDir, vmlinuxPath string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	vm, err := os.ReadFile(vmlinuxPath)
	if err != nil {
		return err
	}
	vmOut := filepath.Join(outDir, VmlinuxName)
	if err := os.WriteFile(vmOut, vm, 0o644); err != nil {
		return err
	}
	im, err := symbols.Open(vmOut)
	if err != nil {
		return err
	}
	for _, o := range Outputs() {
		if err := WriteDump(filepath.Join(outDir, o.Name), im, o.Core, o.Variant, o.Format); err != nil {
			return fmt.Errorf("%s: %w", o.Name, err)
		}
	}
	return nil
}

// WriteDump builds one core and writes it in the given format ("elf",
// "kdump" (zlib), or "flattened").
func WriteDump(path string, im *symbols.Image, coreName string, v Variant, format string) error {
	mem, meta, err := Build(im, coreName, v)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	switch format {
	case "elf":
		err = dumpwrite.WriteELF(w, mem, meta)
	case "kdump":
		err = dumpwrite.WriteKdump(w, mem, meta, dumpwrite.Zlib)
	case "flattened":
		err = dumpwrite.WriteFlattened(w, mem, meta, dumpwrite.Zlib)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Build makes the memory image and dump metadata of one core.
func Build(im *symbols.Image, coreName string, v Variant) (*dumpwrite.Memory, dumpwrite.Meta, error) {
	var c *core
	switch coreName {
	case "rhel4-1822328":
		c = core1822328()
	case "rhel4-20080616":
		c = core20080616()
	default:
		return nil, dumpwrite.Meta{}, fmt.Errorf("unknown core %q", coreName)
	}
	b, err := newBuilder(im)
	if err != nil {
		return nil, dumpwrite.Meta{}, err
	}
	g := &gen{b: b, c: c, v: v, rng: rand.New(rand.NewSource(int64(c.rootPID))), pids: map[int]bool{}}
	meta := g.run()
	if b.err != nil {
		return nil, dumpwrite.Meta{}, b.err
	}
	return b.mem, meta, nil
}

const numCPUs = 16

// gen holds the state of one core's construction.
type gen struct {
	b     *builder
	c     *core
	v     Variant
	rng   *rand.Rand
	pids  map[int]bool
	tasks []*task // on the task list, in order
	idle  [numCPUs]uint64
	curr  [numCPUs]uint64
	rq    [numCPUs]uint64
	tick  [numCPUs]uint64
	mods  map[string]uint64 // module name -> module_core
	// file system objects
	rootMnt, rootDentry, ns, rootSB, ext3Type uint64
	fsStruct                                  uint64
}

// task is a task to create.
type task struct {
	addr, stack      uint64 // task_struct, 8 KiB stack (thread_info at its base)
	pid, cpu         int
	comm             string
	state            uint64
	lastRan          uint64
	parent           uint64
	rsp              uint64
	journalInfo      uint64
	files, namespace uint64
}

func (g *gen) run() dumpwrite.Meta {
	b, c := g.b, g.c
	g.reserveSeedObjects()
	g.mods = map[string]uint64{"ext3": c.ext3Base, "jbd": c.jbdBase}

	// per-CPU run queues and idle tasks
	rqSym := b.sym("per_cpu__runqueues")
	for cpu := 0; cpu < numCPUs; cpu++ {
		g.rq[cpu] = c.rqAddr + uint64(cpu-c.rootCPU)*0x40000
		g.tick[cpu] = c.tickNow - uint64(cpu)*1_234_567 + uint64(c.rootCPU)*1_234_567
	}

	g.globals()
	g.modules()
	g.filesystems()

	initTask := &task{addr: b.sym("init_task"), stack: b.sym("init_thread_union"), pid: 0, comm: "swapper", cpu: 0, state: 0}
	g.pids[0] = true
	g.tasks = append(g.tasks, initTask)
	g.idle[0] = initTask.addr
	for cpu := 1; cpu < numCPUs; cpu++ {
		t := g.newTask(0, "swapper", cpu, 0)
		g.idle[cpu] = t.addr
		g.writeTask(t)
	}
	initProc := g.newTask(1, "init", 0, 1)
	g.tasks = append(g.tasks, initProc)
	for _, kt := range []string{"migration/%d", "ksoftirqd/%d", "events/%d", "kblockd/%d", "aio/%d"} {
		for cpu := 0; cpu < numCPUs; cpu++ {
			g.tasks = append(g.tasks, g.newTask(g.freePID(2, 100), fmt.Sprintf(kt, cpu), cpu, 1))
		}
	}
	for _, name := range []string{"khelper", "kthread", "kacpid", "pdflush", "pdflush", "kswapd0", "kjournald", "kauditd"} {
		g.tasks = append(g.tasks, g.newTask(g.freePID(100, 700), name, g.rng.Intn(numCPUs), 1))
	}

	g.journalStall()
	g.slabCaches()

	// the rest: sleeping processes, up to the seed's task count
	for len(g.tasks)+numCPUs-1 < c.tasks {
		comm := "oracle"
		if g.rng.Intn(20) == 0 {
			comm = []string{"sshd", "bash", "crond", "syslogd", "tnslsnr", "ocssd.bin"}[g.rng.Intn(6)]
		}
		state := uint64(1)
		if g.rng.Intn(40) == 0 {
			state = 0
		}
		g.tasks = append(g.tasks, g.newTask(g.freePID(2000, 32000), comm, g.rng.Intn(numCPUs), state))
	}
	// run queues' current tasks: a running task where there is one, else idle
	for cpu := range g.curr {
		g.curr[cpu] = g.idle[cpu]
	}
	for _, t := range g.tasks {
		if t.state == 0 && t.pid != 0 && g.curr[t.cpu] == g.idle[t.cpu] {
			g.curr[t.cpu] = t.addr
		}
	}
	for _, t := range g.tasks {
		g.writeTask(t)
	}
	g.linkTasks()
	g.perCPU(rqSym)
	b.buildPageTables()

	var cpus []dumpwrite.CPU
	for cpu := 0; cpu < numCPUs; cpu++ {
		pid := int32(0)
		for _, t := range g.tasks {
			if t.addr == g.curr[cpu] {
				pid = int32(t.pid)
			}
		}
		cpus = append(cpus, dumpwrite.CPU{PID: pid})
	}
	ts, _ := time.Parse(time.RFC3339, c.date)
	return dumpwrite.Meta{
		CPUs: cpus,
		Utsname: dumpwrite.Utsname{Sysname: "Linux", Nodename: c.nodename, Release: Release,
			Version: "#1 SMP Fri Jan 18 05:10:01 EST 2008", Machine: "x86_64", Domainname: "(none)"},
		MaxMapnr:       c.memPages + 0x40000, // RAM plus the 1 GiB PCI hole below 4 GiB
		ELFVaddrOffset: pageOffset,
		Timestamp:      ts.Unix(),
	}
}

// reserveSeedObjects keeps generated objects away from the seed's pages.
func (g *gen) reserveSeedObjects() {
	c, b := g.c, g.b
	for _, a := range []uint64{c.rootTask, c.handle, c.transaction, c.vfsmount, c.sb, c.sbInfo, c.jnl,
		c.kjTask, c.lsTask, c.dio, c.kiocb, c.file, c.dentry, c.dioF.inode} {
		b.reserve(a, 0x800)
	}
	for _, w := range c.waiters {
		b.reserve(w.task, 0x800)
	}
	for _, fr := range [][]frame{c.rootStack, c.kjStack, c.lsStack} {
		b.reserve(fr[0].slot&^0x1fff, 0x2000)
	}
	for cpu := 0; cpu < numCPUs; cpu++ {
		b.reserve(c.rqAddr+uint64(cpu-c.rootCPU)*0x40000, 0x800)
	}
}

func (g *gen) freePID(lo, hi int) int {
	for {
		p := lo + g.rng.Intn(hi-lo)
		if !g.pids[p] && !g.seedPID(p) {
			g.pids[p] = true
			return p
		}
	}
}

func (g *gen) seedPID(p int) bool {
	if p == g.c.rootPID || p == g.c.kjPID || p == g.c.lsPID {
		return true
	}
	for _, w := range g.c.waiters {
		if w.pid == p {
			return true
		}
	}
	return false
}

// newTask allocates a task_struct and its stack.
func (g *gen) newTask(pid int, comm string, cpu int, state uint64) *task {
	b := g.b
	g.pids[pid] = true
	addr := b.allocObj()
	stack := b.alloc(0x2000, 0x2000)
	// most tasks have run recently; the idle ones a little while ago
	ago := uint64(g.rng.Int63n(30_000_000_000))
	return &task{addr: addr, stack: stack, pid: pid, cpu: cpu, comm: comm, state: state,
		lastRan: g.tick[cpu] - ago, rsp: stack + 0x2000 - 0x100}
}

// seedTask makes a task at a seed address with a seed stack.
func (g *gen) seedTask(addr uint64, pid, cpu int, comm string, state uint64, stack []frame) *task {
	g.pids[pid] = true
	t := &task{addr: addr, pid: pid, cpu: cpu, comm: comm, state: state}
	if stack != nil {
		t.stack = stack[0].slot &^ 0x1fff
		t.rsp = stack[0].slot
	} else {
		t.stack = g.b.alloc(0x2000, 0x2000)
		t.rsp = t.stack + 0x2000 - 0x100
	}
	return t
}

// writeStack writes return addresses (and thread_info is done by writeTask).
func (g *gen) writeStack(frames []frame) {
	for _, f := range frames {
		ret := f.ret
		if ret == 0 {
			ret = g.funcAddr(f.fn) + f.off
		}
		g.b.u64(f.slot, ret)
	}
}

// funcAddr finds a function of the kernel or of a module.
func (g *gen) funcAddr(name string) uint64 {
	for _, m := range []module{ext3Module, jbdModule} {
		for _, f := range m.funcs {
			if f.name == name {
				return g.mods[m.name] + f.start
			}
		}
	}
	return g.b.sym(name)
}

// genericStack lays out a plausible stack for a task waiting in fns[0]
// (schedule) with fns as callees first; returns the frames.
func (g *gen) genericStack(stackBase uint64, fns []string) []frame {
	slot := stackBase + 0x2000 - 0x80
	frames := make([]frame, len(fns))
	for i := len(fns) - 1; i >= 0; i-- {
		frames[i] = frame{slot: slot, fn: fns[i], ret: g.funcAddr(fns[i]) + 0x20 + uint64(g.rng.Intn(0x40))}
		slot -= 0x20 + uint64(g.rng.Intn(6))*0x10
		if fns[i] == "start_this_handle" || fns[i] == "schedule" {
			slot -= 0xd0
		}
	}
	return frames
}

func (g *gen) writeTask(t *task) {
	b := g.b
	var ts object
	if t.addr == b.sym("init_task") {
		ts = b.at("struct task_struct", t.addr)
		b.place(t.addr, ts.t.Size, "init_task")
	} else {
		ts = b.obj("struct task_struct", t.addr)
	}
	ts.set("state", t.state)
	ts.set("thread_info", t.stack)
	ts.set("usage.counter", 2)
	ts.set("prio", 120)
	ts.set("static_prio", 120)
	ts.set("last_ran", t.lastRan)
	ts.set("timestamp", t.lastRan)
	ts.set("pid", uint64(t.pid))
	ts.set("tgid", uint64(t.pid))
	parent := t.parent
	if parent == 0 {
		parent = t.addr
		if len(g.tasks) > 1 && t.pid > 1 {
			parent = g.tasks[1].addr
		}
	}
	ts.set("real_parent", parent)
	ts.set("parent", parent)
	ts.set("group_leader", t.addr)
	ts.str("comm", t.comm)
	ts.set("thread.rsp", t.rsp)
	ts.set("thread.rsp0", t.stack+0x2000)
	ts.set("journal_info", t.journalInfo)
	ts.set("files", t.files)
	ts.set("fs", g.fsStruct)
	ns := t.namespace
	if ns == 0 {
		ns = g.ns
	}
	ts.set("namespace", ns)
	b.listInit(ts.addr("children"))
	b.listInit(ts.addr("run_list"))
	ti := b.obj("struct thread_info", t.stack)
	ti.set("task", t.addr)
	ti.set("cpu", uint64(t.cpu))
	ti.set("addr_limit", 0x7ffffffff000)
}

// linkTasks puts every task but the secondary idle tasks on init_task.tasks.
func (g *gen) linkTasks() {
	b := g.b
	head := b.at("struct task_struct", g.tasks[0].addr).addr("tasks")
	b.listInit(head)
	for _, t := range g.tasks[1:] {
		b.listAddTail(b.at("struct task_struct", t.addr).addr("tasks"), head)
	}
}

func (g *gen) perCPU(rqSym uint64) {
	b := g.b
	pda := b.sym("cpu_pda")
	pdaSize := b.sizeof("struct x8664_pda")
	nrUN := make([]uint64, numCPUs)
	nrRun := make([]uint64, numCPUs)
	for _, t := range g.tasks {
		switch t.state {
		case 2:
			nrUN[t.cpu]++
		case 0:
			nrRun[t.cpu]++
		}
	}
	for cpu := 0; cpu < numCPUs; cpu++ {
		p := b.at("struct x8664_pda", pda+uint64(cpu)*pdaSize)
		p.set("pcurrent", g.curr[cpu])
		p.set("data_offset", g.rq[cpu]-rqSym)
		p.set("cpunumber", uint64(cpu))
		rq := b.obj("struct runqueue", g.rq[cpu])
		rq.set("curr", g.curr[cpu])
		rq.set("idle", g.idle[cpu])
		rq.set("timestamp_last_tick", g.tick[cpu])
		rq.set("nr_uninterruptible", nrUN[cpu])
		rq.set("nr_running", nrRun[cpu])
		rq.set("cpu", uint64(cpu))
		rq.set("nr_switches", 1000000+uint64(cpu)*7919)
	}
}

// globals fills utsname, clocks, load average, memory size and the log.
func (g *gen) globals() {
	b, c := g.b, g.c
	u := b.at("struct new_utsname", b.sym("system_utsname"))
	u.str("sysname", "Linux")
	u.str("nodename", c.nodename)
	u.str("release", Release)
	u.str("version", "#1 SMP Fri Jan 18 05:10:01 EST 2008")
	u.str("machine", "x86_64")
	u.str("domainname", "(none)")
	banner, err := b.im.ReadData("linux_banner")
	if err != nil {
		b.fail("%v", err)
	}
	b.write(b.sym("linux_banner"), banner)
	b.u64(b.sym("cpu_online_map"), 1<<numCPUs-1)
	const hz = 1000
	neg := int32(-300 * hz)
	initialJiffies := uint64(uint32(neg)) // INITIAL_JIFFIES
	b.u64(b.sym("jiffies_64"), initialJiffies+uint64(c.uptime)*hz+417)
	for i, s := range c.load {
		b.u64(b.sym("avenrun")+uint64(i)*8, avenrunFor(s))
	}
	ts, _ := time.Parse(time.RFC3339, c.date)
	x := b.at("struct timespec", b.sym("xtime"))
	x.set("tv_sec", uint64(ts.Unix()))
	x.set("tv_nsec", 123456789)
	b.put(b.sym("cpu_khz"), 4, uint64(c.mhz)*1000+uint64(g.rng.Intn(999)))
	b.u64(b.sym("num_physpages"), c.memPages)

	logText := bootLog(c)
	const logLen = 1 << 15
	buf := b.alloc(logLen, pageSize)
	b.place(buf, logLen, "log_buf")
	b.write(buf, make([]byte, logLen))
	b.write(buf, []byte(logText))
	b.u64(b.sym("log_buf"), buf)
	b.put(b.sym("log_buf_len"), 4, logLen)
	b.u64(b.sym("log_end"), uint64(len(logText)))
}

// avenrunFor inverts the kernel's LOAD_INT/LOAD_FRAC rendering.
func avenrunFor(s string) uint64 {
	parts := strings.SplitN(s, ".", 2)
	ip, _ := strconv.ParseUint(parts[0], 10, 64)
	fp, _ := strconv.ParseUint(parts[1], 10, 64)
	for a := ip << 11; a < (ip+1)<<11; a++ {
		x := a + 2048/200
		if x>>11 == ip && ((x&2047)*100)>>11 == fp {
			return a
		}
	}
	return ip << 11
}

func bootLog(c *core) string {
	var w bytes.Buffer
	lines := []string{
		"<4>Bootdata ok (command line is ro root=LABEL=/ crashkernel=128M@16M)",
		"<6>Linux version 2.6.9-67.0.4.ELlargesmp (brewbuilder@hs20-bc1-6.build.redhat.com) (gcc version 3.4.6 20060404 (Red Hat 3.4.6-9)) #1 SMP Fri Jan 18 05:10:01 EST 2008",
		"<6>BIOS-provided physical RAM map:",
		fmt.Sprintf("<6>Memory: %dk/%dk available", c.memPages*4-60000, c.memPages*4),
		fmt.Sprintf("<6>Detected %d.000 MHz processor.", c.mhz),
		"<6>kjournald starting.  Commit interval 5 seconds",
		"<6>EXT3-fs: mounted filesystem with ordered data mode.",
		fmt.Sprintf("<6>EXT3 FS on %s, internal journal", strings.TrimPrefix(c.device, "/dev/")),
		"<6>SysRq : Trigger a crashdump",
		"<1>Unable to handle kernel NULL pointer dereference at 0000000000000000 RIP: ",
		"<4><ffffffff80245e1a>{sysrq_handle_crash+0}",
		"<4>PML4 1fb3b1067 PGD 1fe3a3067 PMD 0 ",
		"<0>Oops: 0002 [1] SMP ",
		"<4>CPU 0 ",
		"<4>Modules linked in: ext3 jbd dm_mod md5 ipv6 qla2300 qla2xxx scsi_transport_fc sd_mod",
	}
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	return w.String()
}

// modules writes struct module for ext3 and jbd with their symbol tables
// in module space, linked on the kernel's modules list (newest first).
func (g *gen) modules() {
	b := g.b
	head := b.sym("modules")
	b.listInit(head)
	for _, m := range []module{ext3Module, jbdModule} {
		base := g.mods[m.name]
		modVA := base + m.coreSize - pageSize
		mod := b.obj("struct module", modVA)
		mod.set("state", b.constant("MODULE_STATE_LIVE"))
		mod.str("name", m.name)
		mod.set("module_core", base)
		mod.set("core_size", m.coreSize)
		mod.set("core_text_size", m.coreSize/2)
		b.listAddTail(mod.addr("list"), head)
		// symbol table: a null symbol, then one per function
		symVA := base + m.coreSize - 3*pageSize
		strVA := base + m.coreSize - 2*pageSize
		strtab := []byte{0}
		symSize := b.sizeof("Elf64_Sym")
		for i, f := range append([]textFunc{{}}, m.funcs...) {
			s := b.obj("Elf64_Sym", symVA+uint64(i)*symSize)
			if f.name == "" {
				continue
			}
			s.set("st_name", uint64(len(strtab)))
			s.set("st_info", 0x02) // STB_LOCAL, STT_FUNC
			s.set("st_shndx", 1)
			s.set("st_value", base+f.start)
			s.set("st_size", f.size)
			strtab = append(strtab, f.name...)
			strtab = append(strtab, 0)
		}
		b.place(strVA, uint64(len(strtab)), m.name+" strtab")
		b.write(strVA, strtab)
		mod.set("symtab", symVA)
		mod.set("num_symtab", uint64(len(m.funcs)+1))
		mod.set("strtab", strVA)
	}
	// the ext3 file system type lives in the ext3 module
	g.ext3Type = g.mods["ext3"] + ext3Module.coreSize - 4*pageSize
	ft := b.obj("struct file_system_type", g.ext3Type)
	nameVA := g.ext3Type + 0x100
	b.place(nameVA, 5, "ext3 name")
	b.write(nameVA, []byte("ext3\x00"))
	ft.set("name", nameVA)
	ft.set("owner", g.mods["ext3"]+ext3Module.coreSize-pageSize)
	b.u64(b.sym("file_systems"), g.ext3Type)
}

// dentry creates a dentry named name under parent (0: a root dentry).
func (g *gen) dentry(va uint64, name string, parent, inode, sb uint64) uint64 {
	b := g.b
	if va == 0 {
		va = b.allocObj()
	}
	d := b.obj("struct dentry", va)
	if parent == 0 {
		parent = va
	}
	d.set("d_parent", parent)
	d.set("d_inode", inode)
	d.set("d_sb", sb)
	d.set("d_count.counter", 1)
	d.set("d_name.len", uint64(len(name)))
	if uint64(len(name)) < d.field("d_iname").Type.Resolve().Size {
		d.str("d_iname", name)
		d.set("d_name.name", d.addr("d_iname"))
	} else {
		d.set("d_name.name", b.cstring(name))
	}
	return va
}

func (g *gen) inode(va, ino, size uint64, mode uint64, sb uint64) uint64 {
	b := g.b
	if va == 0 {
		va = b.allocObj()
	}
	in := b.obj("struct inode", va)
	in.set("i_ino", ino)
	in.set("i_size", size)
	in.set("i_mode", mode)
	in.set("i_sb", sb)
	in.set("i_blkbits", 12)
	in.set("i_nlink", 1)
	in.set("i_count.counter", 1)
	return va
}

// superBlock creates an ext3 super block with its journal.
func (g *gen) superBlock(va, sbi, jnl uint64, dev string) uint64 {
	b := g.b
	if va == 0 {
		va = b.allocObj()
	}
	if sbi == 0 {
		sbi = b.allocObj()
	}
	if jnl == 0 {
		jnl = b.allocObj()
	}
	sb := b.obj("struct super_block", va)
	sb.set("s_type", g.ext3Type)
	sb.set("s_blocksize", 4096)
	sb.set("s_blocksize_bits", 12)
	sb.set("s_magic", 0xef53)
	sb.set("s_fs_info", sbi)
	sb.str("s_id", strings.TrimPrefix(dev, "/dev/"))
	b.listAddTail(sb.addr("s_list"), b.sym("super_blocks"))
	info := b.obj("struct ext3_sb_info", sbi)
	info.set("s_journal", jnl)
	info.set("s_commit_interval", 5000)
	j := b.obj("struct journal_s", jnl)
	j.set("j_private", va)
	j.set("j_commit_interval", 5000)
	j.set("j_blocksize", 4096)
	for _, q := range []string{"j_wait_transaction_locked", "j_wait_logspace", "j_wait_done_commit",
		"j_wait_checkpoint", "j_wait_commit", "j_wait_updates"} {
		b.listInit(j.addr(q + ".task_list"))
	}
	return va
}

func (g *gen) mount(va, parent, mountpoint, root, sb uint64, dev string) uint64 {
	b := g.b
	if va == 0 {
		va = b.allocObj()
	}
	m := b.obj("struct vfsmount", va)
	if parent == 0 {
		parent = va
	}
	m.set("mnt_parent", parent)
	m.set("mnt_mountpoint", mountpoint)
	m.set("mnt_root", root)
	m.set("mnt_sb", sb)
	m.set("mnt_devname", b.cstring(dev))
	m.set("mnt_count.counter", 1)
	m.set("mnt_namespace", g.ns)
	b.listAddTail(m.addr("mnt_list"), b.at("struct namespace", g.ns).addr("list"))
	return va
}

// filesystems builds "/" on /dev/sda2 and the seed's data file system.
func (g *gen) filesystems() {
	b, c := g.b, g.c
	b.listInit(b.sym("super_blocks"))
	g.ns = b.allocObj()
	ns := b.obj("struct namespace", g.ns)
	ns.set("count.counter", 3000)
	b.listInit(ns.addr("list"))

	g.rootSB = g.superBlock(0, 0, 0, "/dev/sda2")
	rootInode := g.inode(0, 2, 4096, 040755, g.rootSB)
	g.rootDentry = g.dentry(0, "/", 0, rootInode, g.rootSB)
	b.at("struct super_block", g.rootSB).set("s_root", g.rootDentry)
	g.rootMnt = g.mount(0, 0, g.rootDentry, g.rootDentry, g.rootSB, "/dev/sda2")
	ns.set("root", g.rootMnt)
	fs := b.allocObj()
	f := b.obj("struct fs_struct", fs)
	f.set("root", g.rootDentry)
	f.set("pwd", g.rootDentry)
	f.set("rootmnt", g.rootMnt)
	f.set("pwdmnt", g.rootMnt)
	g.fsStruct = fs

	// the data file system and the path of the file being written
	mpName := strings.TrimPrefix(c.mount, "/")
	mp := g.dentry(0, mpName, g.rootDentry, g.inode(0, 11, 4096, 040755, g.rootSB), g.rootSB)
	b.at("struct dentry", mp).set("d_mounted", 1)
	g.superBlock(c.sb, c.sbInfo, c.jnl, c.device)
	dataRoot := g.dentry(0, "/", 0, g.inode(0, 2, 4096, 040755, c.sb), c.sb)
	b.at("struct super_block", c.sb).set("s_root", dataRoot)
	g.mount(c.vfsmount, g.rootMnt, mp, dataRoot, c.sb, c.device)
	parts := strings.Split(strings.TrimPrefix(strings.TrimPrefix(c.path, c.mount), "/"), "/")
	parent := dataRoot
	for i, p := range parts[:len(parts)-1] {
		parent = g.dentry(0, p, parent, g.inode(0, uint64(100+i), 4096, 040755, c.sb), c.sb)
	}
	g.inode(c.dioF.inode, 49153, c.dioF.iSize, 0100640, c.sb)
	g.dentry(c.dentry, parts[len(parts)-1], parent, c.dioF.inode, c.sb)
	// /boot as a third mount, without a journal stall
	bootSB := g.superBlock(0, 0, 0, "/dev/sda1")
	bootRoot := g.dentry(0, "/", 0, g.inode(0, 2, 1024, 040755, bootSB), bootSB)
	b.at("struct super_block", bootSB).set("s_root", bootRoot)
	bootMP := g.dentry(0, "boot", g.rootDentry, g.inode(0, 12, 4096, 040755, g.rootSB), g.rootSB)
	b.at("struct dentry", bootMP).set("d_mounted", 1)
	g.mount(0, g.rootMnt, bootMP, bootRoot, bootSB, "/dev/sda1")
}

// entryBelow places a wait_queue_t in the stack frame just below a return
// address slot (DEFINE_WAIT in the waiting function), whatever its size.
func (g *gen) entryBelow(slot uint64) uint64 {
	return (slot - 8 - g.b.sizeof("wait_queue_t")) &^ 7
}

// waitOn queues a wait_queue_t living on the task's stack on a queue head.
func (g *gen) waitOn(entry, taskAddr, head uint64) {
	b := g.b
	w := b.obj("wait_queue_t", entry)
	w.set("task", taskAddr)
	w.set("func", b.sym("autoremove_wake_function"))
	b.listAddTail(w.addr("task_list"), head+b.at("wait_queue_head_t", head).field("task_list").Offset)
}

// journalStall builds the hang: the root task in direct I/O holding a
// handle, kjournald waiting for t_updates, and the queue of writers.
func (g *gen) journalStall() {
	b, c := g.b, g.c
	tLocked := b.constant("T_LOCKED")
	tr := b.obj("transaction_t", c.transaction)
	tr.set("t_journal", c.jnl)
	tr.set("t_tid", 1824567)
	tr.set("t_state", tLocked)
	tr.set("t_updates", 1)
	tr.set("t_outstanding_credits", 8)
	tr.set("t_handle_count", 1500)
	tr.set("t_handle_lock.magic", 0xdead4ead)
	j := b.at("struct journal_s", c.jnl)
	j.set("j_running_transaction", c.transaction)
	j.set("j_task", c.kjTask)
	j.set("j_commit_sequence", 1824566)
	j.set("j_transaction_sequence", 1824568)
	h := b.obj("handle_t", c.handle)
	h.set("h_transaction", c.transaction)
	h.set("h_ref", 1)
	h.set("h_buffer_credits", 8)

	// the root task
	state := uint64(2)
	if g.v == Running {
		state = 0
	}
	root := g.seedTask(c.rootTask, c.rootPID, c.rootCPU, "oracle", state, c.rootStack)
	root.lastRan = c.lastRan
	root.journalInfo = c.handle
	g.writeStack(c.rootStack)
	for _, w := range c.rootWords {
		b.u64(w.addr, w.val)
	}
	root.files = g.files(c)
	g.tasks = append(g.tasks, root)
	g.dio(c)

	// kjournald of the data file system, waiting on j_wait_updates
	kj := g.seedTask(c.kjTask, c.kjPID, c.kjCPU, "kjournald", 2, c.kjStack)
	kj.lastRan = c.lastRan + 3_000_000_000
	g.writeStack(c.kjStack)
	g.waitOn(g.entryBelow(c.kjStack[1].slot), c.kjTask, j.addr("j_wait_updates"))
	g.tasks = append(g.tasks, kj)

	// the writers queued behind T_LOCKED
	named := map[int]waiter{}
	for i, w := range c.waiters {
		named[c.waiterGaps[i]] = w
	}
	head := j.addr("j_wait_transaction_locked")
	for i := 0; i < c.waiterCount; i++ {
		var t *task
		var frames []frame
		if w, ok := named[i]; ok && w.pid == c.lsPID {
			t = g.seedTask(w.task, w.pid, w.cpu, w.comm, 2, c.lsStack)
			frames = c.lsStack
		} else {
			var pid, cpu int
			var addr uint64
			comm := "oracle"
			if ok {
				pid, cpu, addr, comm = w.pid, w.cpu, w.task, w.comm
			} else {
				pid, cpu = g.freePID(20000, 30000), g.rng.Intn(numCPUs)
				addr = b.allocObj()
			}
			t = g.seedTask(addr, pid, cpu, comm, 2, nil)
			frames = g.genericStack(t.stack, writerStack(comm))
			t.rsp = frames[0].slot
		}
		// they queued after the root task blocked
		t.lastRan = c.lastRan + 5_000_000_000 + uint64(i)*uint64(g.rng.Int63n(2_000_000_000))
		g.writeStack(frames)
		g.waitOn(g.entryBelow(frames[1].slot), t.addr, head)
		g.tasks = append(g.tasks, t)
	}
}

func writerStack(comm string) []string {
	switch comm {
	case "ls":
		return lsFns
	case "pdflush":
		return []string{"schedule", "start_this_handle", "journal_start", "ext3_dirty_inode", "__mark_inode_dirty", "kernel_thread"}
	}
	return []string{"schedule", "start_this_handle", "journal_start", "ext3_prepare_write",
		"__generic_file_aio_write_nolock", "generic_file_aio_write_nolock", "generic_file_aio_write",
		"ext3_file_write", "aio_pwrite", "aio_run_iocb", "io_submit_one", "sys_io_submit", "system_call"}
}

// files gives the root task its open files: /dev/null on 0-2 and the
// archive log on the seed's descriptor.
func (g *gen) files(c *core) uint64 {
	b := g.b
	fsVA := b.allocObj()
	fs := b.obj("struct files_struct", fsVA)
	fs.set("count.counter", 1)
	fs.set("max_fds", uint64(fs.field("fd_array").Type.Resolve().Len))
	fs.set("max_fdset", 1024)
	fs.set("next_fd", uint64(c.fd+1))
	fs.set("fd", fs.addr("fd_array"))
	fs.set("open_fds", fs.addr("open_fds_init"))
	fs.set("close_on_exec", fs.addr("close_on_exec_init"))
	devDentry := g.dentry(0, "dev", g.rootDentry, g.inode(0, 13, 4096, 040755, g.rootSB), g.rootSB)
	nullDentry := g.dentry(0, "null", devDentry, g.inode(0, 1234, 0, 020666, g.rootSB), g.rootSB)
	mkfile := func(va, dentry, mnt uint64, mode uint64) uint64 {
		if va == 0 {
			va = b.allocObj()
		}
		f := b.obj("struct file", va)
		f.set("f_dentry", dentry)
		f.set("f_vfsmnt", mnt)
		f.set("f_count.counter", 1)
		f.set("f_mode", mode)
		f.set("f_flags", 0x4002) // O_RDWR|O_DIRECT
		return va
	}
	null := mkfile(0, nullDentry, g.rootMnt, 3)
	var open uint64
	slot := func(fd int, file uint64) {
		b.u64(fs.addr("fd_array")+uint64(fd)*8, file)
		open |= 1 << uint(fd)
	}
	for fd := 0; fd < 3; fd++ {
		slot(fd, null)
	}
	slot(c.fd, mkfile(c.file, c.dentry, c.vfsmount, 3))
	b.u64(fs.addr("open_fds_init"), open)
	return fsVA
}

// dio writes the seed's struct dio, its kiocb and the user iocb copy.
func (g *gen) dio(c *core) {
	b, f := g.b, c.dioF
	d := b.obj("struct dio", c.dio)
	d.set("inode", f.inode)
	d.set("rw", 1)
	d.set("i_size", f.iSize)
	d.set("lock_type", b.constant("DIO_LOCKING"))
	d.set("blkbits", 9)
	d.set("blkfactor", 3)
	d.set("start_zero_done", 1)
	d.set("pages_in_io", 0x102)
	d.set("size", 0x100000)
	d.set("block_in_file", f.blockInFile)
	d.set("final_block_in_request", f.finalBlockInRequest)
	d.set("first_block_in_page", 7)
	d.set("reap_counter", 1)
	d.set("get_blocks", g.funcAddr("ext3_direct_io_get_blocks"))
	d.set("final_block_in_bio", f.finalBlockInBio)
	d.set("next_block_for_io", f.nextBlockForIO)
	d.set("map_bh.b_this_page", f.bThisPage)
	d.set("map_bh.b_page", f.bPage)
	d.set("map_bh.b_count.counter", f.bCount)
	d.set("map_bh.b_size", 0x1000)
	d.set("map_bh.b_blocknr", f.bBlocknr)
	d.set("map_bh.b_data", f.bData)
	d.set("map_bh.b_bdev", f.bBdev)
	d.set("map_bh.b_end_io", f.bEndIO)
	d.set("map_bh.b_assoc_buffers.next", f.assocNext)
	d.set("map_bh.b_assoc_buffers.prev", f.assocPrev)
	d.set("cur_page_len", 0xc00)
	d.set("cur_page_block", f.curPageBlock)
	d.set("curr_page", 0x40)
	d.set("total_pages", 0x101)
	d.set("curr_user_address", f.curUserAddress)
	pages := d.field("pages")
	for i, p := range f.pages {
		b.u64(c.dio+pages.Offset+uint64(i)*8, p)
	}
	d.set("head", 0x40)
	d.set("tail", 0x40)
	refcount := uint64(1)
	if g.v == InFlight {
		refcount = 2
	}
	d.set("refcount.counter", refcount)
	d.set("bio_lock.lock", 1)
	d.set("bio_lock.magic", 0xdead4ead)
	if g.v != NoWaiter {
		d.set("waiter", c.rootTask)
	}
	d.set("iocb", c.kiocb)
	d.set("is_async", 1)
	d.set("result", 0xe00)

	k := b.obj("struct kiocb", c.kiocb)
	k.set("ki_users", 1)
	k.set("ki_filp", c.file)
	k.set("ki_obj.user", c.aioData)
	k.set("ki_user_data", c.aioData)
	k.set("ki_pos", c.aioOff)
	k.set("ki_opcode", b.constant("IOCB_CMD_PWRITE"))
	k.set("ki_nbytes", 0x100000)
	k.set("ki_buf", c.aioBuf)
	k.set("ki_left", 0x100000)
	b.listInit(k.addr("ki_run_list"))
	b.listInit(k.addr("ki_list"))

	io := b.obj("struct iocb", c.iocbSlot)
	io.set("aio_data", c.aioData)
	io.set("aio_lio_opcode", b.constant("IOCB_CMD_PWRITE"))
	io.set("aio_fildes", uint64(c.fd))
	io.set("aio_buf", c.aioBuf)
	io.set("aio_nbytes", 0x100000)
	io.set("aio_offset", c.aioOff)
}
