package batch

import "testing"

func TestLooksLikeDumpName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"/q/vmcore", true}, {"/q/1822328-vmcore", true}, {"/q/a.VMCORE", true}, {"/q/x.kdump", true},
		{"/q/x.core", true}, {"/q/x.flat", true}, {"/q/results.jsonl", false}, {"/q/vmlinux", false},
		{"/q/notes.txt", false}, {"/q/x.elf", false},
	}
	for _, tt := range tests {
		if got := looksLikeDumpName(tt.name); got != tt.want {
			t.Errorf("looksLikeDumpName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
