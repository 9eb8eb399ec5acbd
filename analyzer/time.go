package analyzer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/vmtriage/vmtriage/symbols"
)

// TimeFeatures are the kernel's clocks and the values the dump holds
// about time.
type TimeFeatures struct {
	// Jiffies is "jiffies_64" (x86_64 DWARF has no jiffies variable: it
	// is a linker alias).
	Jiffies string
	// Timekeeper is where the core timekeeper (wall time and the
	// monotonic clock, hence uptime) lives: "tk_core" (3.17+, a struct
	// with a timekeeper member beside its seqcount) or
	// "timekeeper_data" (after 6.12, the auxiliary-clock rework: an array
	// of struct tk_data whose first, TIMEKEEPER_CORE, is the system's), or
	// "" (2.6: xtime and jiffies).
	Timekeeper string
	// HZ is the tick rate, HZFrom how it was found: the kernel's
	// embedded config (CONFIG_IKCONFIG), jiffies against the
	// timekeeper's uptime, or jiffies against the run-queue clock (2.6).
	HZ     int64
	HZFrom string
	// HungTaskTimeout is sysctl_hung_task_timeout_secs (2.6.30+,
	// e162b39a368f khungtaskd): 0 means the detector is off, -1 that the
	// kernel has none.
	HungTaskTimeout int64
}

func (k *Kernel) probeTime(f *Features) {
	t := &f.Time
	t.Jiffies = k.firstSymbol("jiffies_64", "jiffies")
	t.Timekeeper = k.firstSymbol("tk_core", "timekeeper_data")
	t.HZ, t.HZFrom = k.detectHZ()
	t.HungTaskTimeout = -1
	if a, err := k.Addr("sysctl_hung_task_timeout_secs"); err == nil {
		if v, err := k.U64(a); err == nil {
			t.HungTaskTimeout = int64(v)
		} else {
			k.warnf("sysctl_hung_task_timeout_secs at 0x%x: %v", a, err)
		}
	}
	f.set("time.jiffies", "%s", orNone(t.Jiffies))
	f.set("time.timekeeper", "%s", orNone(t.Timekeeper))
	f.set("time.hz", "%d (%s)", t.HZ, t.HZFrom)
	f.set("time.hung_task_timeout_secs", "%d", t.HungTaskTimeout)
}

// configHZ reads CONFIG_HZ from the kernel's embedded configuration
// (kernel_config_data, a gzip file between "IKCFG_ST" and "IKCFG_ED").
func (k *Kernel) configHZ() (int64, bool) {
	data, err := k.Syms.ReadData("kernel_config_data")
	if err != nil {
		return 0, false
	}
	if i := bytes.Index(data, []byte("IKCFG_ST")); i >= 0 {
		data = data[i+8:]
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(io.LimitReader(zr, 16<<20))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("CONFIG_HZ=")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			return n, err == nil && n > 0
		}
	}
	return 0, false
}

// configHZValues are the CONFIG_HZ choices of x86 kernels.
var configHZValues = []int64{100, 250, 300, 1000}

// detectHZ works out the tick rate: from the embedded config, else from
// jiffies_64 = INITIAL_JIFFIES + HZ*uptime where INITIAL_JIFFIES =
// (u32)(-300*HZ) (2.5.x+), the uptime coming from the timekeeper or, on
// 2.6 kernels without one, from the run-queue clock (ns since boot).
func (k *Kernel) detectHZ() (int64, string) {
	if hz, ok := k.configHZ(); ok {
		return hz, "CONFIG_HZ of the embedded config"
	}
	j, jerr := k.jiffies()
	var uptime float64
	from := ""
	if ns, err := k.timekeeperUptimeNS(); err == nil {
		uptime, from = float64(ns)/1e9, "jiffies and the timekeeper's uptime"
	} else if clk, err := k.RunQueueClock(0); err == nil {
		uptime, from = float64(clk)/1e9, "jiffies and CPU 0's run-queue clock"
	}
	if jerr == nil && uptime > 0 {
		// the closest CONFIG_HZ in seconds; ticks may run ahead of or lag
		// the clock source (a virtual machine) by a second or two
		best, bestErr := int64(0), math.Inf(1)
		for _, h := range configHZValues {
			initial := uint64(uint32(int32(-300 * h)))
			est := float64(int64(j-initial)) / float64(h)
			if e := math.Abs(est - uptime); e < bestErr {
				best, bestErr = h, e
			}
		}
		if bestErr <= math.Max(0.1*uptime, 3) {
			return best, from
		}
		k.warnf("HZ: jiffies_64 %d at an uptime of %.1f s fits no CONFIG_HZ value (%s); assuming 1000", j, uptime, from)
	} else {
		k.warnf("HZ: neither the kernel's config nor jiffies and an uptime are readable (%v); assuming 1000", jerr)
	}
	return 1000, "assumed"
}

func (k *Kernel) jiffies() (uint64, error) {
	a, err := k.Addr("jiffies_64")
	if err != nil {
		return 0, err
	}
	return k.U64(a)
}

// Timekeeper reads the core timekeeper's container (see
// TimeFeatures.Timekeeper): its member "timekeeper" is the struct
// timekeeper.
func (k *Kernel) Timekeeper() (Object, error) {
	switch name := k.Features.Time.Timekeeper; name {
	case "tk_core":
		return k.Variable(name)
	case "timekeeper_data":
		arr, err := k.Types.Variable(name)
		if err != nil {
			return Object{}, err
		}
		elem := arr.Resolve()
		if elem.Kind == symbols.Array && elem.Elem != nil {
			elem = elem.Elem.Resolve()
		}
		a, err := k.Addr(name)
		if err != nil {
			return Object{}, err
		}
		return k.objectOfType(elem, a) // [TIMEKEEPER_CORE], the first
	}
	return Object{}, fmt.Errorf("no timekeeper (tk_core or timekeeper_data) in %s", k.Syms.Path())
}

// timekeeperUptime is the monotonic clock plus the time spent suspended,
// in seconds, from the timekeeper (3.17+).
func (k *Kernel) timekeeperUptime() (int64, error) {
	ns, err := k.timekeeperUptimeNS()
	return ns / 1e9, err
}

func (k *Kernel) timekeeperUptimeNS() (int64, error) {
	tk, err := k.Timekeeper()
	if err != nil {
		return 0, err
	}
	mono, err := tk.Int("timekeeper.tkr_mono.base")
	if err != nil {
		return 0, err
	}
	boot, _ := tk.Int("timekeeper.offs_boot")
	return mono + boot, nil
}

// Uptime is how long the machine had run when it was dumped, in seconds.
func (k *Kernel) Uptime() (int64, error) {
	if k.Features.Time.Timekeeper != "" {
		return k.timekeeperUptime()
	}
	j, err := k.jiffies()
	if err != nil {
		return 0, err
	}
	hz := k.Features.Time.HZ
	initial := uint64(uint32(int32(-300 * hz)))
	return int64((j - initial) / uint64(hz)), nil
}

// BlockedSeconds is how long a task has not run: its CPU's run-queue clock
// minus its last_ran, as in the seed's analysis.
func (k *Kernel) BlockedSeconds(t Task) (int64, error) {
	if k.Features.Tasks.LastRan == "" {
		return 0, fmt.Errorf("task %d: the kernel keeps no last-run time (no sched_info.last_arrival: CONFIG_SCHED_INFO off)", t.PID)
	}
	now, err := k.RunQueueClock(t.CPU)
	if err != nil {
		return 0, err
	}
	if t.LastRan == 0 || t.LastRan > now {
		return 0, fmt.Errorf("task %d: last_ran 0x%x is not before CPU %d's run-queue clock 0x%x", t.PID, t.LastRan, t.CPU, now)
	}
	return int64((now - t.LastRan) / 1_000_000_000), nil
}
