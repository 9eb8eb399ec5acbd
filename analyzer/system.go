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

// hz is the x86_64 2.6 kernel's tick rate (crash assumes the same).
const hz = 1000

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
	if _, err := k.Addr("tk_core"); err == nil {
		// uptime from the timekeeper below: HZ is not in the dump
	} else if a, err := k.Addr("jiffies_64"); err == nil {
		if j, err := k.U64(a); err == nil {
			neg := int32(-300 * hz)
			initial := uint64(uint32(neg)) // INITIAL_JIFFIES
			s.Uptime = int64((j - initial) / hz)
		}
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
	for _, name := range []string{"num_physpages", "_totalram_pages", "totalram_pages"} {
		if a, err := k.Addr(name); err == nil {
			if v, err := k.U64(a); err == nil {
				s.MemoryBytes = v * 4096
				break
			}
		}
	}
	if a, err := k.Addr("xtime"); err == nil {
		if o, err := k.Object("struct timespec", a); err == nil {
			sec, _ := o.Int("tv_sec")
			s.Time = time.Unix(sec, 0).UTC()
		}
	} else if _, err := k.Addr("tk_core"); err == nil {
		// current kernels: the timekeeper knows wall time and the monotonic clock
		if tk, err := k.Variable("tk_core"); err == nil {
			if sec, err := tk.Int("timekeeper.xtime_sec"); err == nil {
				s.Time = time.Unix(sec, 0).UTC()
			}
			if mono, err := tk.Int("timekeeper.tkr_mono.base"); err == nil {
				boot, _ := tk.Int("timekeeper.offs_boot")
				s.Uptime = (mono + boot) / 1e9
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

// maxLogBuf bounds the log buffer read.
const maxLogBuf = 64 << 20

// Log reads the kernel's message buffer: the printk ring buffer (5.10+)
// or the classic log_buf ring.
func (k *Kernel) Log() (string, error) {
	if _, err := k.Addr("prb"); err == nil {
		return k.prbLog()
	}
	bufP, err := k.Addr("log_buf")
	if err != nil {
		return "", err
	}
	buf, err := k.U64(bufP)
	if err != nil {
		return "", err
	}
	lenA, err := k.Addr("log_buf_len")
	if err != nil {
		return "", err
	}
	var lb [4]byte
	if err := k.Mem.Read(lenA, lb[:]); err != nil {
		return "", err
	}
	size := uint64(lb[0]) | uint64(lb[1])<<8 | uint64(lb[2])<<16 | uint64(lb[3])<<24
	endA, err := k.Addr("log_end")
	if err != nil {
		return "", err
	}
	end, err := k.U64(endA)
	if err != nil {
		return "", err
	}
	if size == 0 || size > maxLogBuf {
		return "", fmt.Errorf("log_buf_len %d is implausible", size)
	}
	n := size
	if end < size {
		n = end // the ring has not wrapped: read only what was written
	}
	data := make([]byte, n)
	if err := k.Mem.Read(buf, data); err != nil {
		return "", err
	}
	var text []byte
	if end <= size {
		text = data[:end]
	} else {
		start := end % size
		text = append(append(text, data[start:]...), data[:start]...)
	}
	var lines []string
	for _, l := range strings.Split(string(text), "\n") {
		lines = append(lines, levelPrefix.ReplaceAllString(l, ""))
	}
	return strings.Join(lines, "\n"), nil
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
