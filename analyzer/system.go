package analyzer

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// System is a `crash sys`-like summary of the dumped machine.
type System struct {
	Release     string
	Version     string
	Nodename    string
	Machine     string
	CPUs        int
	MHz         int
	Tasks       int
	Uptime      int64 // seconds
	LoadAverage [3]float64
	LoadText    [3]string // as crash and /proc/loadavg print them
	MemoryBytes uint64
	Time        time.Time // xtime: when the dump was taken
	Panic       string
}

// System reads the summary.
func (k *Kernel) System(taskCount int) (System, error) {
	var s System
	for _, name := range []string{"system_utsname", "init_uts_ns"} {
		a, err := k.Addr(name)
		if err != nil {
			continue
		}
		typ := "struct new_utsname"
		if name == "init_uts_ns" {
			o, err := k.Object("struct uts_namespace", a)
			if err != nil {
				return s, err
			}
			a, _ = o.FieldAddr("name")
		}
		u, err := k.Object(typ, a)
		if err != nil {
			return s, fmt.Errorf("utsname: %w", err)
		}
		s.Release, _ = u.Chars("release")
		s.Version, _ = u.Chars("version")
		s.Nodename, _ = u.Chars("nodename")
		s.Machine, _ = u.Chars("machine")
		break
	}
	if s.Release == "" {
		if u, ok := k.Dump.Utsname(); ok {
			s.Release, s.Version, s.Nodename, s.Machine = u.Release, u.Version, u.Nodename, u.Machine
		}
	}
	s.CPUs = len(k.CPUs())
	s.Tasks = taskCount
	if a, err := k.Addr("cpu_khz"); err == nil {
		var b [4]byte
		if k.Mem.Read(a, b[:]) == nil {
			s.MHz = int(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24) / 1000
		}
	}
	if up, err := k.Uptime(); err == nil {
		s.Uptime = up
	} else {
		k.warnf("uptime: %v", err)
	}
	if a, err := k.Addr("avenrun"); err == nil {
		for i := 0; i < 3; i++ {
			v, err := k.U64(a + uint64(i)*8)
			if err != nil {
				break
			}
			x := v + 2048/200
			s.LoadText[i] = fmt.Sprintf("%d.%02d", x>>11, ((x&2047)*100)>>11)
			fmt.Sscanf(s.LoadText[i], "%g", &s.LoadAverage[i])
		}
	}
	// num_physpages (2.6), totalram_pages (3.x-4.x), _totalram_pages
	// (5.0+, ca79b0c211af: an atomic_long_t)
	if name := k.firstSymbol("_totalram_pages", "totalram_pages", "num_physpages"); name != "" {
		a, _ := k.Addr(name)
		if v, err := k.U64(a); err == nil {
			s.MemoryBytes = v * k.Layout.PageSize
		} else {
			k.warnf("memory size: %s at 0x%x: %v", name, a, err)
		}
	}
	if a, err := k.Addr("xtime"); err == nil {
		if o, err := k.Object("struct timespec", a); err == nil {
			sec, _ := o.Int("tv_sec")
			s.Time = time.Unix(sec, 0).UTC()
		}
	} else if k.Features.Time.Timekeeper != "" {
		// current kernels: the timekeeper knows wall time
		if tk, err := k.Timekeeper(); err == nil {
			if sec, err := tk.Int("timekeeper.xtime_sec"); err == nil {
				s.Time = time.Unix(sec, 0).UTC()
			}
		}
	}
	if log, err := k.Log(); err == nil {
		s.Panic = PanicString(log)
	} else {
		k.warnf("kernel log: %v", err)
	}
	return s, nil
}

var levelPrefix = regexp.MustCompile(`^<\d>`)

// PanicString picks the line that says why the machine went down.
func PanicString(log string) string {
	lines := strings.Split(log, "\n")
	for _, prefix := range []string{"Kernel panic - not syncing: ", "Oops: ", "kernel BUG at ", "BUG: "} {
		for _, l := range lines {
			if i := strings.Index(l, prefix); i >= 0 {
				if prefix == "Kernel panic - not syncing: " {
					return l[i+len(prefix):]
				}
				return l[i:]
			}
		}
	}
	return ""
}
