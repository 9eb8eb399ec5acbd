package seedgen

// This file holds the facts of the seed report (shared/seed), and nothing
// else: addresses, PIDs, names, values and times as crash printed them.

// frame is one stack frame as crash's bt prints it: the stack slot holding
// the return address, and the return address (or a symbol+offset).
type frame struct {
	slot uint64
	fn   string // function containing the return address
	ret  uint64 // return address; 0: computed as fn + retOff in a module
	off  uint64 // for module functions: offset of the return address in fn
}

// word is a value on a task's stack that is not a return address.
type word struct {
	addr, val uint64
}

// waiter is a task queued on a wait queue.
type waiter struct {
	pid  int
	task uint64
	cpu  int
	comm string
}

// dioFields are the seed's `px *(struct dio *)` values (pointer fields that
// the generator fills itself are left out).
type dioFields struct {
	inode, iSize, blockInFile, finalBlockInRequest, getBlocksOff  uint64
	finalBlockInBio, nextBlockForIO, curPageBlock, curUserAddress uint64
	bBlocknr, bBdev, bCount, bThisPage, bPage, bData, bEndIO      uint64
	assocNext, assocPrev                                          uint64
	pages                                                         []uint64
}

// core is one seed vmcore.
type core struct {
	name                      string
	date                      string // crash's DATE, taken as UTC
	uptime                    int64  // seconds
	load                      [3]string
	tasks                     int
	memPages                  uint64
	mhz                       int
	nodename                  string
	rootPID                   int
	rootTask                  uint64
	rootCPU                   int
	rootStack                 []frame
	rootWords                 []word
	rqAddr                    uint64 // per_cpu__runqueues of rootCPU
	tickNow, lastRan          uint64
	handle, transaction       uint64
	vfsmount, sb, sbInfo, jnl uint64
	device, mount             string
	kjPID                     int
	kjTask                    uint64
	kjCPU                     int
	kjStack                   []frame
	lsPID                     int
	lsTask                    uint64
	lsCPU                     int
	lsStack                   []frame
	waiters                   []waiter // named waiters, in queue order; lsPID among them
	waiterCount               int      // total on j_wait_transaction_locked
	waiterGaps                []int    // queue positions of the named waiters
	dio                       uint64
	kiocb                     uint64
	dioF                      dioFields
	iocbSlot                  uint64
	aioData, aioBuf, aioOff   uint64
	fd                        int
	file, dentry              uint64
	path                      string
	ext3Base, jbdBase         uint64
}

var oracleStack = []string{"schedule", "io_schedule", "__blockdev_direct_IO", "ext3_direct_IO",
	"generic_file_direct_IO", "generic_file_direct_write", "__generic_file_aio_write_nolock",
	"generic_file_aio_write_nolock", "generic_file_aio_write", "ext3_file_write", "aio_pwrite",
	"aio_run_iocb", "io_submit_one", "sys_io_submit"}

var oracleRets = []uint64{0xffffffff8030e7e8, 0xffffffff8030f15e, 0xffffffff8019c9b2, 0xd53a - 0xd400,
	0xffffffff8015c8fa, 0xffffffff8015c980, 0xffffffff8015ccbc, 0xffffffff8015cf9f, 0xffffffff8015d069,
	0x8f01 - 0x8ed0, 0xffffffff8019e1ab, 0xffffffff8019d53f, 0xffffffff8019e560, 0xffffffff8019e665}

func stackOf(fns []string, rets []uint64, slots []uint64) []frame {
	fr := make([]frame, len(slots))
	for i := range slots {
		fr[i] = frame{slot: slots[i], fn: fns[i]}
		if rets[i] >= 0xffffffff80000000 {
			fr[i].ret = rets[i]
		} else {
			fr[i].off = rets[i]
		}
	}
	return fr
}

var kjFns = []string{"schedule", "journal_commit_transaction", "kjournald", "kernel_thread"}
var kjRets = []uint64{0xffffffff8030e7e8, 0x872, 0xdc, 0xffffffff80110f47}
var lsFns = []string{"schedule", "start_this_handle", "journal_start", "ext3_dirty_inode", "__mark_inode_dirty",
	"update_atime", "vfs_readdir", "sys_getdents64"}
var lsRets = []uint64{0xffffffff8030e7e8, 0x259, 0xc6, 0x57, 0xffffffff80199b0c, 0xffffffff80192f5e,
	0xffffffff8018c3a8, 0xffffffff8018c784}

func core1822328() *core {
	c := &core{
		name: "rhel4-1822328", date: "2008-04-24T03:14:27Z", uptime: 3*3600 + 18*60 + 57,
		load: [3]string{"268.20", "166.55", "80.32"}, tasks: 3527, memPages: 8257536, mhz: 2800,
		nodename: "host.example.com",
		rootPID:  8960, rootTask: 0x102edef7030, rootCPU: 4,
		rqAddr: 0x104000616e0, tickNow: 0xac6c8e38db3, lastRan: 0xa6346839bb6,
		handle: 0x10276615640, transaction: 0x103fb8952c0,
		vfsmount: 0x10300025500, sb: 0x104000fe800, sbInfo: 0x100d1d68000, jnl: 0x1040016bc00,
		device: "/dev/md10", mount: "/data1",
		kjPID: 30348, kjTask: 0x101fa8727f0, kjCPU: 8,
		lsPID: 24278, lsTask: 0x100120d1030, lsCPU: 1,
		waiters: []waiter{
			{25604, 0x10444f1f030, 4, "oracle"}, {25542, 0x10216e75030, 15, "oracle"},
			{24278, 0x100120d1030, 1, "ls"}, {22651, 0x1044b3b67f0, 3, "oracle"}},
		waiterCount: 192, waiterGaps: []int{0, 1, 97, 191},
		dio: 0x1010012b800, kiocb: 0x107b7a3c780,
		dioF: dioFields{inode: 0x1056b3fcb18, iSize: 0x11b49800, blockInFile: 0x5808, finalBlockInRequest: 0x6001,
			getBlocksOff: 0, finalBlockInBio: 0x9486140, nextBlockForIO: 0x9486140, curPageBlock: 0x948613a,
			curUserAddress: 0x2a974e3e00, bBlocknr: 0x1290c27, bBdev: 0x100db0e7cc0, bCount: 0x53345320,
			bThisPage: 0x5245504f2e533253, bPage: 0x2c504f4320454341, bData: 0x204552454857204,
			bEndIO: 0x2044495f414e491e, assocNext: 0x492e4b5320444e41, assocPrev: 0x333431203d2044,
			pages: []uint64{0x10002cea048}},
		iocbSlot: 0x100b5397f08, aioData: 0x2a97ec2ea0, aioBuf: 0x2a974a3e00, aioOff: 0xb00200,
		fd: 22, file: 0x1024869c880, dentry: 0x1044fde6228,
		path:     "/data1/oracle/archive/CC/1_59673_629046150.dbf",
		ext3Base: 0xffffffffa0105000, jbdBase: 0xffffffffa00f5000,
	}
	for i := 1; i < 64; i++ {
		c.dioF.pages = append(c.dioF.pages, 0x102ff4e21a0+uint64(i-1)*0x38)
	}
	c.rootStack = stackOf(oracleStack, oracleRets, []uint64{0x100b5397ac8, 0x100b5397ba0, 0x100b5397bc0,
		0x100b5397c70, 0x100b5397cf0, 0x100b5397d30, 0x100b5397d80, 0x100b5397e00, 0x100b5397e30,
		0x100b5397e80, 0x100b5397ea0, 0x100b5397eb0, 0x100b5397ed0, 0x100b5397f00})
	c.rootStack = append(c.rootStack, frame{slot: 0x100b5397f80, fn: "tracesys", ret: 0xffffffff801103ce})
	c.rootWords = []word{{0x100b5397ba8, 0x00000100083a8e80}, {0x100b5397bb0, 0x000001010012bb18},
		{0x100b5397bb8, 0x000001010012b800},
		{0x100b5397f48, 1}, {0x100b5397f50, 1}, {0x100b5397f58, 0x7fbfff88e0}, {0x100b5397f60, 0x7fbfff8900},
		{0x100b5397f68, 1}, {0x100b5397f70, 0x7fbfff8900}, {0x100b5397f78, 0x6003750}}
	c.kjStack = stackOf(kjFns, kjRets, []uint64{0x100d1ca1ad8, 0x100d1ca1bb0, 0x100d1ca1e80, 0x100d1ca1f50})
	c.lsStack = stackOf(lsFns, lsRets, []uint64{0x1000b047ca8, 0x1000b047d80, 0x1000b047e60, 0x1000b047e80,
		0x1000b047ea0, 0x1000b047ed0, 0x1000b047f00, 0x1000b047f30})
	c.lsStack = append(c.lsStack, frame{slot: 0x1000b047f80, fn: "tracesys", ret: 0xffffffff801103ce})
	return c
}

func core20080616() *core {
	c := &core{
		name: "rhel4-20080616", date: "2008-06-16T15:19:16Z", uptime: 1*3600 + 14*60 + 21,
		load: [3]string{"29.24", "34.39", "30.91"}, tasks: 275, memPages: 4194304, mhz: 3000,
		nodename: "host.example.com",
		rootPID:  21356, rootTask: 0x103f8f97030, rootCPU: 10,
		rqAddr: 0x1040001d760, tickNow: 0x420917ddc2d, lastRan: 0x2c50250db37,
		handle: 0x103f38461f0, transaction: 0x100012f11c0,
		vfsmount: 0x10200042500, sb: 0x10037c5f800, sbInfo: 0x101e8de0000, jnl: 0x10037d58c00,
		device: "/dev/md0", mount: "/data",
		kjPID: 17538, kjTask: 0x100dffb4030, kjCPU: 13,
		lsPID: 21578, lsTask: 0x101eb004030, lsCPU: 7,
		waiters: []waiter{
			{21578, 0x101eb004030, 7, "ls"}, {21329, 0x103f7782030, 5, "oracle"}, {196, 0x103f8e93030, 14, "pdflush"},
			{21321, 0x101e7b077f0, 10, "oracle"}, {21337, 0x101f8561030, 4, "oracle"}, {21341, 0x103f4fbb030, 4, "oracle"},
			{21315, 0x101f03cc030, 4, "oracle"}, {21319, 0x101f29877f0, 8, "oracle"}, {21391, 0x10183645030, 2, "iozone"},
			{21386, 0x1018377f030, 7, "iozone"}, {21384, 0x1018372a030, 15, "iozone"}, {21387, 0x101837f97f0, 9, "iozone"},
			{21397, 0x10183fce030, 12, "iozone"}, {21383, 0x1018372a7f0, 10, "iozone"}, {21392, 0x10183efd7f0, 1, "iozone"},
			{21390, 0x101836457f0, 0, "iozone"}, {21393, 0x10183efd030, 8, "iozone"}, {21389, 0x10183e607f0, 14, "iozone"},
			{21394, 0x10183f647f0, 3, "iozone"}, {21396, 0x10183fce7f0, 6, "iozone"}, {21382, 0x101f4cfe030, 11, "iozone"},
			{21395, 0x10183f64030, 4, "iozone"}, {21388, 0x101837f9030, 5, "iozone"}, {21385, 0x1018377f7f0, 13, "iozone"}},
		waiterCount: 24,
		dio:         0x101f3c8b800, kiocb: 0x10198315480,
		dioF: dioFields{inode: 0x101d1a0a810, iSize: 0xbce0200, blockInFile: 0x1c808, finalBlockInRequest: 0x1d001,
			finalBlockInBio: 0xb4c7c8f8, nextBlockForIO: 0xb4c7c8f8, curPageBlock: 0xb4c7c8f2,
			curUserAddress: 0x2a97d23e00, bBlocknr: 0x1698f91e, bBdev: 0x103f8f263c0, bCount: 2,
			bThisPage: 0xfffffffffffffffc, bPage: 0x5d2, bData: 0x47b, bEndIO: 0xfffffffffffffffc,
			assocNext: 0x9c00000002, assocPrev: 0xfffffffffffffffc,
			pages: []uint64{0x101fb401cb8}},
		iocbSlot: 0x100ba6ddf08, aioData: 0x2a97ec39b0, aioBuf: 0x2a97ce3e00, aioOff: 0x3900200,
		fd: 22, file: 0x103f64a2980, dentry: 0x10037cc6138,
		path:     "/data/oracle/archive/DBTEST/1_472_657217547.dbf",
		ext3Base: 0xffffffffa0100000, jbdBase: 0xffffffffa00f0000,
	}
	for i := range c.waiters {
		c.waiterGaps = append(c.waiterGaps, i)
	}
	for i := 1; i < 64; i++ {
		c.dioF.pages = append(c.dioF.pages, 0x101fe55fcd8+uint64(i-1)*0x38)
	}
	c.rootStack = stackOf(oracleStack, oracleRets, []uint64{0x100ba6ddac8, 0x100ba6ddba0, 0x100ba6ddbc0,
		0x100ba6ddc70, 0x100ba6ddcf0, 0x100ba6ddd30, 0x100ba6ddd80, 0x100ba6dde00, 0x100ba6dde30,
		0x100ba6dde80, 0x100ba6ddea0, 0x100ba6ddeb0, 0x100ba6dded0, 0x100ba6ddf00})
	c.rootStack = append(c.rootStack, frame{slot: 0x100ba6ddf80, fn: "system_call", ret: 0xffffffff8011026a})
	c.rootWords = []word{{0x100ba6ddba8, 0x00000101f83af210}, {0x100ba6ddbb0, 0x00000101f3c8bb18},
		{0x100ba6ddbb8, 0x00000101f3c8b800},
		{0x100ba6ddf48, 0}, {0x100ba6ddf50, 1}, {0x100ba6ddf58, 0x7fbfff89b0}, {0x100ba6ddf60, 0x7fbfff89d0},
		{0x100ba6ddf68, 1}, {0x100ba6ddf70, 0x7fbfff89d0}, {0x100ba6ddf78, 0x6003570}}
	c.kjStack = stackOf(kjFns, kjRets, []uint64{0x101f0891ad8, 0x101f0891bb0, 0x101f0891e80, 0x101f0891f50})
	c.lsStack = stackOf(lsFns, lsRets, []uint64{0x101aaea3ca8, 0x101aaea3d80, 0x101aaea3e60, 0x101aaea3e80,
		0x101aaea3ea0, 0x101aaea3ed0, 0x101aaea3f00, 0x101aaea3f30})
	c.lsStack = append(c.lsStack, frame{slot: 0x101aaea3f80, fn: "system_call", ret: 0xffffffff8011026a})
	return c
}
