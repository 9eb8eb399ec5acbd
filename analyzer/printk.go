package analyzer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// PrintkFeatures say which of the kernel's log buffers this kernel has.
type PrintkFeatures struct {
	// Buffer is "prb" (5.10+, 896fbe20b4e2 "printk: use the lockless
	// ringbuffer"), "printk_log" (3.5+, 7ff9554bb578 "printk: convert
	// byte-buffer to variable-length record buffer"; struct log until
	// 3.11's 62e32ac3505a) or "log_buf" (2.6: a plain character ring).
	Buffer string
	// RecordType is the 3.5+ record header type.
	RecordType string
}

func (k *Kernel) probePrintk(f *Features) {
	p := &f.Printk
	switch {
	case k.hasSymbol("prb") && k.hasType("struct printk_ringbuffer"):
		p.Buffer = "prb"
	case k.hasSymbol("log_first_idx"):
		p.Buffer = "printk_log"
		p.RecordType = k.firstType("struct printk_log", "struct log")
	case k.hasSymbol("log_buf") && k.hasSymbol("log_end"):
		p.Buffer = "log_buf"
	}
	f.set("printk.buffer", "%s", orNone(p.Buffer))
}

// LogRecord is one message of the kernel log.
type LogRecord struct {
	// Nsec is the message's timestamp in ns since boot; -1 when the
	// buffer keeps none (2.6's character ring, whose text may carry its
	// own "[seconds]").
	Nsec int64 `json:"ts_nsec"`
	// Level is the message's log level; -1 when unknown.
	Level int    `json:"level"`
	Text  string `json:"text"`
}

// LogRecords reads the kernel's message buffer (see PrintkFeatures), oldest
// first: a partial list with an error when the buffer breaks off.
func (k *Kernel) LogRecords() ([]LogRecord, error) {
	switch k.Features.Printk.Buffer {
	case "prb":
		return k.prbLog()
	case "printk_log":
		return k.recordLog()
	case "log_buf":
		return k.charLog()
	}
	return nil, fmt.Errorf("no kernel log buffer recognised in %s (prb, log_first_idx or log_end)", k.Syms.Path())
}

// Log is the kernel's message buffer as text, one message per line.
func (k *Kernel) Log() (string, error) {
	recs, err := k.LogRecords()
	if err != nil && len(recs) == 0 {
		return "", err
	}
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.Text)
		b.WriteByte('\n')
	}
	return b.String(), err
}

// maxLogBuf bounds the log buffer read.
const maxLogBuf = 64 << 20

// logBuf reads log_buf's address and log_buf_len.
func (k *Kernel) logBuf() (buf, size uint64, err error) {
	bufP, err := k.Addr("log_buf")
	if err != nil {
		return 0, 0, err
	}
	if buf, err = k.U64(bufP); err != nil {
		return 0, 0, err
	}
	lenA, err := k.Addr("log_buf_len")
	if err != nil {
		return 0, 0, err
	}
	var lb [4]byte
	if err := k.Mem.Read(lenA, lb[:]); err != nil {
		return 0, 0, err
	}
	size = uint64(binary.LittleEndian.Uint32(lb[:]))
	if size == 0 || size > maxLogBuf {
		return 0, 0, fmt.Errorf("log_buf_len %d is implausible", size)
	}
	return buf, size, nil
}

// charLog reads 2.6's character ring: log_buf, log_buf_len, log_end. Its
// lines keep no timestamp of their own (the text may print one).
func (k *Kernel) charLog() ([]LogRecord, error) {
	buf, size, err := k.logBuf()
	if err != nil {
		return nil, err
	}
	endA, err := k.Addr("log_end")
	if err != nil {
		return nil, err
	}
	end, err := k.U64(endA)
	if err != nil {
		return nil, err
	}
	n := size
	if end < size {
		n = end // the ring has not wrapped: read only what was written
	}
	data := make([]byte, n)
	if err := k.Mem.Read(buf, data); err != nil {
		return nil, err
	}
	var text []byte
	if end <= size {
		text = data[:end]
	} else {
		start := end % size
		text = append(append(text, data[start:]...), data[:start]...)
	}
	var out []LogRecord
	for _, l := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		out = append(out, LogRecord{Nsec: -1, Level: -1, Text: levelPrefix.ReplaceAllString(l, "")})
	}
	return out, nil
}

// recordLog reads the 3.5-5.9 record log: struct printk_log headers in
// log_buf from log_first_idx to log_next_idx, each followed by its text;
// a header with len 0 means the records go on at the start of the buffer.
func (k *Kernel) recordLog() ([]LogRecord, error) {
	buf, size, err := k.logBuf()
	if err != nil {
		return nil, err
	}
	hdr, err := k.Types.Lookup(k.Features.Printk.RecordType)
	if err != nil {
		return nil, err
	}
	lenOff, err1 := hdr.Offset("len")
	textLenOff, err2 := hdr.Offset("text_len")
	tsOff, err3 := hdr.Offset("ts_nsec")
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	level, levelErr := hdr.Field("level")
	idx := func(name string) (uint64, error) {
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
	first, err := idx("log_first_idx")
	if err != nil {
		return nil, err
	}
	next, err := idx("log_next_idx")
	if err != nil {
		return nil, err
	}
	data := make([]byte, size)
	if err := k.Mem.Read(buf, data); err != nil {
		return nil, err
	}
	var out []LogRecord
	for i, n := first, 0; i != next && n < maxLogRecords; n++ {
		if i+hdr.Size > size {
			return out, fmt.Errorf("printk record at log_buf+%d runs past log_buf_len %d", i, size)
		}
		recLen := uint64(binary.LittleEndian.Uint16(data[i+lenOff:]))
		if recLen == 0 { // wrap marker
			i = 0
			continue
		}
		textLen := uint64(binary.LittleEndian.Uint16(data[i+textLenOff:]))
		if i+hdr.Size+textLen <= size {
			r := LogRecord{Nsec: int64(binary.LittleEndian.Uint64(data[i+tsOff:])), Level: -1,
				Text: string(data[i+hdr.Size : i+hdr.Size+textLen])}
			if levelErr == nil && level.IsBitField() { // u8 facility:5, level:3
				r.Level = int(data[i+level.Offset]>>level.BitOffset) & (1<<level.BitSize - 1)
			} else if levelErr == nil {
				r.Level = int(data[i+level.Offset])
			}
			out = append(out, r)
		}
		i += recLen
	}
	return out, nil
}

// maxLogRecords bounds a printk ring buffer walk.
const maxLogRecords = 1 << 20

// prbLog reads the lockless printk ring buffer of 5.10+ kernels (prb):
// descriptors from tail_id to head_id, each finalized record's text in the
// text data ring and its timestamp and level in its printk_info, as
// drgn's and crash's readers do.
func (k *Kernel) prbLog() ([]LogRecord, error) {
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
	lenOff, _ := infoT.Offset("text_len")
	tsOff, _ := infoT.Offset("ts_nsec")
	level, levelErr := infoT.Field("level")
	count, size := uint64(1)<<countBits, uint64(1)<<sizeBits
	var out []LogRecord
	info := make([]byte, infoT.Size)
	for id, n := tail, 0; n < maxLogRecords; id, n = id+1, n+1 {
		i := id % count
		d := descs + i*descT.Size
		state, err := k.U64(d + stateOff)
		if err != nil {
			return out, err
		}
		// state_var: 2 state bits on top of the id; committed (1) or finalized (2)
		if st := state >> 62; (st == 1 || st == 2) && state&(1<<62-1) == id&(1<<62-1) {
			begin, _ := k.U64(d + beginOff)
			next, _ := k.U64(d + nextOff)
			if err := k.Mem.Read(infos+i*infoT.Size, info); err != nil {
				continue
			}
			textLen := uint64(binary.LittleEndian.Uint16(info[lenOff:]))
			start := begin % size
			if begin/size != next/size && next%size != 0 { // wrapped: the block is at the start
				start = 0
			}
			start += 8 // the block starts with its id
			if textLen > 0 && start+textLen <= size {
				text := make([]byte, textLen)
				if err := k.Mem.Read(data+start, text); err == nil {
					r := LogRecord{Nsec: int64(binary.LittleEndian.Uint64(info[tsOff:])), Level: -1, Text: string(text)}
					if levelErr == nil && level.IsBitField() {
						r.Level = int(info[level.Offset]>>level.BitOffset) & (1<<level.BitSize - 1)
					} else if levelErr == nil {
						r.Level = int(info[level.Offset])
					}
					out = append(out, r)
				}
			}
		}
		if id == head {
			break
		}
	}
	return out, nil
}
