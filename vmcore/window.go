package vmcore

import "io"

// readWindowSize is how much a readWindow reads ahead: a kdump file keeps
// its page descriptors, and the data of consecutive pages, one after the
// other, so most reads of a walk over nearby pages are then served from
// memory instead of a system call each.
const readWindowSize = 64 << 10

// readWindow serves reads of a file from one buffered stretch of it. It
// is not safe for concurrent use: its owner serialises the reads.
type readWindow struct {
	off int64  // file offset of buf[0]
	buf []byte // what was read at off
}

// readWindows serves reads from a few windows, so that readers walking
// different parts of a file (a slab scan's workers) keep one each; a
// miss refills the least recently used. Not safe for concurrent use.
type readWindows struct {
	w    [4]readWindow
	used [4]uint64
	tick uint64
}

// readAt is readWindow.readAt through the window holding the range, else
// the least recently used one.
func (ws *readWindows) readAt(r io.ReaderAt, size int64, p []byte, off int64) (int, error) {
	if len(p) > readWindowSize/2 {
		return r.ReadAt(p, off) // too large for a window
	}
	ws.tick++
	pick := 0
	for i := range ws.w {
		if w := &ws.w[i]; off >= w.off && off+int64(len(p)) <= w.off+int64(len(w.buf)) {
			pick = i
			break
		}
		if ws.used[i] < ws.used[pick] {
			pick = i
		}
	}
	ws.used[pick] = ws.tick
	return ws.w[pick].readAt(r, size, p, off)
}

// readAt fills p from offset off of r (size bytes long), through the
// window when p fits in one; it returns how much it filled and, when short,
// the reader's error (io.ErrUnexpectedEOF when the reader gave none).
func (w *readWindow) readAt(r io.ReaderAt, size int64, p []byte, off int64) (int, error) {
	if off >= w.off && off+int64(len(p)) <= w.off+int64(len(w.buf)) && off >= 0 {
		return copy(p, w.buf[off-w.off:]), nil
	}
	if len(p) > readWindowSize/2 || off < 0 || off >= size {
		return r.ReadAt(p, off)
	}
	if cap(w.buf) < readWindowSize {
		w.buf = make([]byte, readWindowSize)
	}
	n := int(min(int64(readWindowSize), size-off))
	got, err := r.ReadAt(w.buf[:n], off)
	w.off, w.buf = off, w.buf[:got]
	if got >= len(p) {
		return copy(p, w.buf), nil
	}
	c := copy(p, w.buf)
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return c, err
}
