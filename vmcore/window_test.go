package vmcore

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// countingReader counts the reads that reach the file.
type countingReader struct {
	r     io.ReaderAt
	reads int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	return c.r.ReadAt(p, off)
}

func TestReadWindow(t *testing.T) {
	data := make([]byte, 3*readWindowSize+100)
	for i := range data {
		data[i] = byte(i * 7)
	}
	size := int64(len(data))
	tests := []struct {
		name      string
		off       int64
		n         int
		wantN     int
		wantErr   error
		wantReads int // reads reaching the file, counted from a fresh window after a first read at 0
	}{
		{"inside the first window", 100, 24, 24, nil, 0},
		{"the window's last bytes", readWindowSize - 24, 24, 24, nil, 0},
		{"across the window's end", readWindowSize - 10, 24, 24, nil, 1},
		{"far ahead", 2 * readWindowSize, 4096, 4096, nil, 1},
		{"the file's last bytes", size - 24, 24, 24, nil, 1},
		{"past the file's end", size - 10, 24, 10, io.ErrUnexpectedEOF, 1},
		{"larger than half a window: straight to the file", 10, readWindowSize, readWindowSize, nil, 1},
		{"at the file's end", size, 8, 0, io.EOF, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(data)}
			var w readWindow
			var first [8]byte
			if n, err := w.readAt(cr, size, first[:], 0); n != 8 || err != nil {
				t.Fatalf("first read: %d, %v", n, err)
			}
			cr.reads = 0
			p := make([]byte, tc.n)
			n, err := w.readAt(cr, size, p, tc.off)
			if n != tc.wantN || !errors.Is(err, tc.wantErr) && !(tc.wantErr == nil && err == nil) {
				t.Fatalf("readAt(%d bytes at %#x) = %d, %v; want %d, %v", tc.n, tc.off, n, err, tc.wantN, tc.wantErr)
			}
			if !bytes.Equal(p[:n], data[tc.off:tc.off+int64(n)]) {
				t.Errorf("wrong bytes at %#x", tc.off)
			}
			if cr.reads != tc.wantReads {
				t.Errorf("%d reads reached the file, want %d", cr.reads, tc.wantReads)
			}
		})
	}
}
