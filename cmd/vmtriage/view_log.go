package main

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmtriage/vmtriage/analyzer"
)

// logRecord is one kernel log message.
type logRecord struct {
	// Nsec is the message's timestamp (ns since boot); -1 when the
	// kernel's buffer keeps none (2.6's character ring, where the text
	// may carry its own "[seconds]").
	Nsec  int64  `json:"ts_nsec"`
	Level int    `json:"level"` // -1 when unknown
	Text  string `json:"text"`
}

// logJSON is `log --format json`.
type logJSON struct {
	Buffer   string      `json:"buffer"`              // prb, printk_log or log_buf
	BootTime string      `json:"boot_time,omitempty"` // RFC 3339, from the dump's date and uptime
	Records  []logRecord `json:"records"`
}

// newLogCmd is crash's log: the kernel's message buffer with [seconds]
// timestamps; -T prints wall-clock times.
func newLogCmd() *cobra.Command {
	var df dumpFlags
	var vf viewFormat
	var human bool
	cmd := &cobra.Command{
		Use:   "log DUMP --vmlinux FILE [-T]",
		Short: "Print the kernel's message buffer, like crash's log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := vf.check(); err != nil {
				return err
			}
			k, err := df.open(args[0])
			if err != nil {
				return err
			}
			defer k.Close()
			recs, err := logRecords(k)
			if err != nil {
				return err
			}
			out := logJSON{Buffer: k.Features.Printk.Buffer, Records: recs}
			var boot time.Time
			if human || vf.json() {
				if sys, err := k.System(0); err == nil && !sys.Time.IsZero() {
					boot = sys.Time.Add(-time.Duration(sys.Uptime) * time.Second)
					out.BootTime = boot.Format(time.RFC3339)
				}
			}
			w := cmd.OutOrStdout()
			if vf.json() {
				return writeJSON(w, out)
			}
			var b strings.Builder
			for _, r := range recs {
				prefix := ""
				switch {
				case r.Nsec < 0:
				case human && !boot.IsZero():
					prefix = "[" + boot.Add(time.Duration(r.Nsec)).Format("Mon Jan _2 15:04:05 MST 2006") + "] "
				default:
					prefix = fmt.Sprintf("[%5d.%06d] ", r.Nsec/1e9, r.Nsec%1e9/1e3)
				}
				// continuation lines are indented under the text, as crash does
				lines := strings.Split(r.Text, "\n")
				for i, l := range lines {
					if i == 0 {
						b.WriteString(prefix)
					} else {
						b.WriteString(strings.Repeat(" ", len(prefix)))
					}
					b.WriteString(l)
					b.WriteString("\n")
				}
			}
			_, err = fmt.Fprint(w, b.String())
			return err
		},
	}
	df.add(cmd)
	vf.add(cmd)
	cmd.Flags().BoolVarP(&human, "human", "T", false, "print wall-clock times instead of seconds since boot")
	return cmd
}

// maxLogRecords bounds a log walk.
const maxLogRecords = 1 << 20

// logRecords reads the log with its timestamps: from the lockless ring
// buffer (5.10+) or the record buffer (3.5-5.9); 2.6's character ring has
// none, its lines come from analyzer.Kernel.Log.
func logRecords(k *analyzer.Kernel) ([]logRecord, error) {
	switch k.Features.Printk.Buffer {
	case "prb":
		return prbRecords(k)
	case "printk_log":
		return printkLogRecords(k)
	}
	text, err := k.Log()
	if err != nil {
		return nil, err
	}
	var out []logRecord
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		out = append(out, logRecord{Nsec: -1, Level: -1, Text: l})
	}
	return out, nil
}

// prbRecords walks the descriptor ring from tail_id to head_id, each
// committed or finalized record's text in the text data ring.
func prbRecords(k *analyzer.Kernel) ([]logRecord, error) {
	pp, err := k.Addr("prb")
	if err != nil {
		return nil, err
	}
	addr, err := k.U64(pp)
	if err != nil {
		return nil, err
	}
	rb, err := k.Object("struct printk_ringbuffer", addr)
	if err != nil {
		return nil, err
	}
	countBits, err := rb.Uint("desc_ring.count_bits")
	if err != nil {
		return nil, err
	}
	descs, _ := rb.Uint("desc_ring.descs")
	infos, _ := rb.Uint("desc_ring.infos")
	tail, _ := rb.First("desc_ring.tail_id.counter")
	head, _ := rb.First("desc_ring.head_id.counter")
	sizeBits, _ := rb.Uint("text_data_ring.size_bits")
	data, _ := rb.Uint("text_data_ring.data")
	if countBits > 24 || sizeBits > 30 {
		return nil, fmt.Errorf("printk ring buffer at 0x%x: count_bits %d size_bits %d are implausible", addr, countBits, sizeBits)
	}
	descT, err := k.Types.Lookup("struct prb_desc")
	if err != nil {
		return nil, err
	}
	infoT, err := k.Types.Lookup("struct printk_info")
	if err != nil {
		return nil, err
	}
	stateOff, _ := descT.Offset("state_var")
	beginOff, _ := descT.Offset("text_blk_lpos.begin")
	nextOff, _ := descT.Offset("text_blk_lpos.next")
	count, size := uint64(1)<<countBits, uint64(1)<<sizeBits
	var out []logRecord
	for id, n := tail, 0; n < maxLogRecords; id, n = id+1, n+1 {
		i := id % count
		d := descs + i*descT.Size
		state, err := k.U64(d + stateOff)
		if err != nil {
			return out, err
		}
		if st := state >> 62; (st == 1 || st == 2) && state&(1<<62-1) == id&(1<<62-1) {
			begin, _ := k.U64(d + beginOff)
			next, _ := k.U64(d + nextOff)
			info, err := k.Object("struct printk_info", infos+i*infoT.Size)
			if err == nil {
				ts, _ := info.Uint("ts_nsec")
				textLen, _ := info.Uint("text_len")
				level, lerr := info.Uint("level")
				start := begin % size
				if begin/size != next/size && next%size != 0 {
					start = 0
				}
				start += 8
				if textLen > 0 && start+textLen <= size {
					text := make([]byte, textLen)
					if k.Mem.Read(data+start, text) == nil {
						r := logRecord{Nsec: int64(ts), Level: int(level), Text: string(text)}
						if lerr != nil {
							r.Level = -1
						}
						out = append(out, r)
					}
				}
			}
		}
		if id == head {
			break
		}
	}
	return out, nil
}

// printkLogRecords walks the 3.5-5.9 record buffer: struct printk_log
// headers from log_first_idx to log_next_idx, a zero len wrapping.
func printkLogRecords(k *analyzer.Kernel) ([]logRecord, error) {
	u32 := func(name string) (uint64, error) {
		a, err := k.Addr(name)
		if err != nil {
			return 0, err
		}
		var b [4]byte
		if err := k.Mem.Read(a, b[:]); err != nil {
			return 0, err
		}
		return uint64(binary.LittleEndian.Uint32(b[:])), nil
	}
	bufP, err := k.Addr("log_buf")
	if err != nil {
		return nil, err
	}
	buf, err := k.U64(bufP)
	if err != nil {
		return nil, err
	}
	size, err := u32("log_buf_len")
	if err != nil {
		return nil, err
	}
	first, err := u32("log_first_idx")
	if err != nil {
		return nil, err
	}
	next, err := u32("log_next_idx")
	if err != nil {
		return nil, err
	}
	if size == 0 || size > 64<<20 {
		return nil, fmt.Errorf("log_buf_len %d is implausible", size)
	}
	hdr, err := k.Types.Lookup(k.Features.Printk.RecordType)
	if err != nil {
		return nil, err
	}
	var out []logRecord
	for i, n := first, 0; i != next && n < maxLogRecords; n++ {
		if i+hdr.Size > size {
			return out, fmt.Errorf("printk record at log_buf+%d runs past log_buf_len %d", i, size)
		}
		h, err := k.Object(k.Features.Printk.RecordType, buf+i)
		if err != nil {
			return out, err
		}
		recLen, _ := h.Uint("len")
		if recLen == 0 {
			i = 0
			continue
		}
		textLen, _ := h.Uint("text_len")
		ts, _ := h.Uint("ts_nsec")
		level, lerr := h.Uint("level")
		if i+hdr.Size+textLen <= size {
			text := make([]byte, textLen)
			if k.Mem.Read(buf+i+hdr.Size, text) == nil {
				r := logRecord{Nsec: int64(ts), Level: int(level), Text: string(text)}
				if lerr != nil {
					r.Level = -1
				}
				out = append(out, r)
			}
		}
		i += recLen
	}
	return out, nil
}
