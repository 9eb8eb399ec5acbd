package analyzer

import (
	"fmt"
	"strings"
)

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
