package dumpwrite

// lzo1xCompress is a small greedy LZO1X compressor. It emits only literal
// runs, M3 matches (distance up to 16 KiB) and the M4 end marker, all
// of which standard LZO1X decompressors (liblzo2's lzo1x_decompress_safe,
// the kernel's) accept. It trades ratio for simplicity and determinism.
func lzo1xCompress(src []byte) []byte {
	const (
		hashBits = 12
		maxDist  = 0x4000
	)
	out := make([]byte, 0, len(src)/2+16)
	var table [1 << hashBits]int32 // position+1 of the last 3-byte sequence
	first := true                  // nothing emitted yet
	distPos := -1                  // index in out of the last match's low distance byte

	emitCount := func(n, bias int) {
		// n > bias: zero bytes worth 255 each, then a non-zero remainder.
		r := n - bias
		for r > 255 {
			out = append(out, 0)
			r -= 255
		}
		out = append(out, byte(r))
	}
	emitLiterals := func(lit []byte) {
		n := len(lit)
		if n == 0 {
			return
		}
		switch {
		case first && n <= 238:
			out = append(out, byte(17+n))
		case !first && n <= 3:
			out[distPos] |= byte(n) // the previous match's S bits
		case n <= 18:
			out = append(out, byte(n-3))
		default:
			out = append(out, 0)
			emitCount(n, 18)
		}
		out = append(out, lit...)
		first = false
	}
	emitMatch := func(dist, length int) {
		if length <= 33 {
			out = append(out, 0x20|byte(length-2))
		} else {
			out = append(out, 0x20)
			emitCount(length, 33)
		}
		v := (dist - 1) << 2
		distPos = len(out)
		out = append(out, byte(v), byte(v>>8))
		first = false
	}

	lit, ip := 0, 0
	for ip+3 <= len(src) {
		h := (uint32(src[ip]) | uint32(src[ip+1])<<8 | uint32(src[ip+2])<<16) * 2654435761 >> (32 - hashBits)
		cand := int(table[h]) - 1
		table[h] = int32(ip + 1)
		if cand >= 0 && ip-cand <= maxDist && src[cand] == src[ip] && src[cand+1] == src[ip+1] && src[cand+2] == src[ip+2] {
			l := 3
			for ip+l < len(src) && src[cand+l] == src[ip+l] {
				l++
			}
			emitLiterals(src[lit:ip])
			emitMatch(ip-cand, l)
			ip += l
			lit = ip
			continue
		}
		ip++
	}
	emitLiterals(src[lit:])
	return append(out, 0x11, 0, 0) // M4 with distance 16384: end of stream
}
