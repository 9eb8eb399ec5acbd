package rules_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules"
	"github.com/vmtriage/vmtriage/symbols"
	"github.com/vmtriage/vmtriage/testdata/seedgen"
	"github.com/vmtriage/vmtriage/vmcore"
)

// TestAnalyzeCancelled: an analysis whose context is done stops reading
// and says why, rather than running on after its caller gave up.
func TestAnalyzeCancelled(t *testing.T) {
	cores := seedgen.Cores(t)
	d, err := vmcore.Open(filepath.Join(cores, "rhel4-1822328.elf"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := symbols.Open(filepath.Join(cores, seedgen.VmlinuxName))
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	cause := errors.New("batch timeout")
	ctx, cancel := context.WithCancelCause(context.Background())
	k, err := analyzer.NewWith(d, im, analyzer.Options{Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	cancel(cause)
	r, err := rules.Analyze(k, "test")
	if r != nil || !errors.Is(err, cause) || !strings.Contains(err.Error(), "analysis abandoned") {
		t.Fatalf("Analyze after cancel = %v, %v; want the cause", r != nil, err)
	}
}
