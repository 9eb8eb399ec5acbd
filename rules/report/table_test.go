package report

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFold(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		width int
		want  []string
	}{
		{"fits", "    short line", 20, []string{"    short line"}},
		{"at spaces, indented continuation", "    one two three four", 14,
			[]string{"    one two", "      three", "      four"}},
		{"a word longer than a line is cut", "  0x0123456789abcdef", 10,
			[]string{"  0x012345", "    6789ab", "    cdef"}},
		{"no width", "anything at all", 0, []string{"anything at all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fold(tt.line, tt.width); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Fold(%q, %d) = %q, want %q", tt.line, tt.width, got, tt.want)
			}
		})
	}
}

func TestFitColumns(t *testing.T) {
	header := []string{"PID", "TASK", "WAITING ON"}
	rows := [][]string{{"8960", "0x102edef7030", "direct I/O that already completed: dio 0x1010012b800 refcount 1, nothing in flight"}}
	tests := []struct {
		name     string
		width    int
		unbroken []string // cells that must stay on one line
	}{
		{"wide enough: unchanged", 200, []string{rows[0][2]}},
		{"narrow: the text wraps, the address stays whole", 60, []string{"8960", "0x102edef7030"}},
		{"very narrow: still within the width", 30, []string{"8960"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, r := FitColumns(header, rows, tt.width)
			var sb strings.Builder
			p := &printer{w: &sb, width: tt.width}
			p.table(header, rows)
			if p.err != nil {
				t.Fatal(p.err)
			}
			for _, l := range strings.Split(strings.TrimSpace(sb.String()), "\n") {
				if n := utf8.RuneCountInString(l); n > tt.width {
					t.Errorf("line %q is %d wide, more than %d", l, n, tt.width)
				}
			}
			joined := strings.Join(append(h, r[0]...), "\n")
			for _, u := range tt.unbroken {
				if !strings.Contains(joined, u) {
					t.Errorf("%q was broken: %q", u, r[0])
				}
			}
			if got := strings.Join(strings.Fields(strings.ReplaceAll(r[0][2], "\n", " ")), ""); got != strings.Join(strings.Fields(rows[0][2]), "") {
				t.Errorf("wrapping lost text: %q", r[0][2])
			}
		})
	}
}
