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

// Log reads the kernel's message buffer (see PrintkFeatures).
func (k *Kernel) Log() (string, error) {
	switch k.Features.Printk.Buffer {
	case "prb":
		return k.prbLog()
	case "printk_log":
		return k.recordLog()
	case "log_buf":
		return k.charLog()
	}
	return "", fmt.Errorf("no kernel log buffer recognised in %s (prb, log_first_idx or log_end)", k.Syms.Path())
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

// charLog reads 2.6's character ring: log_buf, log_buf_len, log_end.
func (k *Kernel) charLog() (string, error) {
	buf, size, err := k.logBuf()
	if err != nil {
		return "", err
	}
	endA, err := k.Addr("log_end")
	if err != nil {
		return "", err
	}
	end, err := k.U64(endA)
	if err != nil {
		return "", err
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

// recordLog reads the 3.5-5.9 record log: struct printk_log headers in
// log_buf from log_first_idx to log_next_idx, each followed by its text;
// a header with len 0 means the records go on at the start of the buffer.
func (k *Kernel) recordLog() (string, error) {
	buf, size, err := k.logBuf()
	if err != nil {
		return "", err
	}
	hdr, err := k.Types.Lookup(k.Features.Printk.RecordType)
	if err != nil {
		return "", err
	}
	lenOff, err1 := hdr.Offset("len")
	textLenOff, err2 := hdr.Offset("text_len")
	if err := errors.Join(err1, err2); err != nil {
		return "", err
	}
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
		return "", err
	}
	next, err := idx("log_next_idx")
	if err != nil {
		return "", err
	}
	data := make([]byte, size)
	if err := k.Mem.Read(buf, data); err != nil {
		return "", err
	}
	var b strings.Builder
	for i, n := first, 0; i != next && n < maxLogRecords; n++ {
		if i+hdr.Size > size {
			return b.String(), fmt.Errorf("printk record at log_buf+%d runs past log_buf_len %d", i, size)
		}
		recLen := uint64(binary.LittleEndian.Uint16(data[i+lenOff:]))
		if recLen == 0 { // wrap marker
			i = 0
			continue
		}
		textLen := uint64(binary.LittleEndian.Uint16(data[i+textLenOff:]))
		if i+hdr.Size+textLen <= size {
			b.Write(data[i+hdr.Size : i+hdr.Size+textLen])
			b.WriteByte('\n')
		}
		i += recLen
	}
	return b.String(), nil
}

// maxLogRecords bounds a printk ring buffer walk.
const maxLogRecords = 1 << 20

// prbLog reads the lockless printk ring buffer of 5.10+ kernels (prb):
// descriptors from tail_id to head_id, each finalized record's text in the
// text data ring, as drgn's and crash's readers do.
func (k *Kernel) prbLog() (string, error) {
	pp, err := k.Addr("prb")
	if err != nil {
		return "", err
	}
	addr, err := k.U64(pp)
	if err != nil {
		return "", err
	}
	rb, err := k.Object("struct printk_ringbuffer", addr)
	if err != nil {
		return "", err
	}
	countBits, err := rb.Uint("desc_ring.count_bits")
	if err != nil {
		return "", err
	}
	descs, _ := rb.Uint("desc_ring.descs")
	infos, _ := rb.Uint("desc_ring.infos")
	tail, _ := rb.First("desc_ring.tail_id.counter")
	head, _ := rb.First("desc_ring.head_id.counter")
	sizeBits, _ := rb.Uint("text_data_ring.size_bits")
	data, _ := rb.Uint("text_data_ring.data")
	if countBits > 24 || sizeBits > 30 {
		return "", fmt.Errorf("printk ring buffer at 0x%x: count_bits %d size_bits %d are implausible", addr, countBits, sizeBits)
	}
	descT, err := k.Types.Lookup("struct prb_desc")
	if err != nil {
		return "", err
	}
	infoT, err := k.Types.Lookup("struct printk_info")
	if err != nil {
		return "", err
	}
	stateOff, _ := descT.Offset("state_var")
	beginOff, _ := descT.Offset("text_blk_lpos.begin")
	nextOff, _ := descT.Offset("text_blk_lpos.next")
	lenOff, _ := infoT.Offset("text_len")
	count, size := uint64(1)<<countBits, uint64(1)<<sizeBits
	var b strings.Builder
	for id, n := tail, 0; n < maxLogRecords; id, n = id+1, n+1 {
		i := id % count
		d := descs + i*descT.Size
		state, err := k.U64(d + stateOff)
		if err != nil {
			return b.String(), err
		}
		// state_var: 2 state bits on top of the id; committed (1) or finalized (2)
		if st := state >> 62; (st == 1 || st == 2) && state&(1<<62-1) == id&(1<<62-1) {
			begin, _ := k.U64(d + beginOff)
			next, _ := k.U64(d + nextOff)
			var lb [2]byte
			k.Mem.Read(infos+i*infoT.Size+lenOff, lb[:])
			textLen := uint64(lb[0]) | uint64(lb[1])<<8
			start := begin % size
			if begin/size != next/size && next%size != 0 { // wrapped: the block is at the start
				start = 0
			}
			start += 8 // the block starts with its id
			if textLen > 0 && start+textLen <= size {
				text := make([]byte, textLen)
				if err := k.Mem.Read(data+start, text); err == nil {
					b.Write(text)
					b.WriteByte('\n')
				}
			}
		}
		if id == head {
			break
		}
	}
	return b.String(), nil
}
