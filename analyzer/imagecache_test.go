package analyzer

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vmtriage/vmtriage/symbols"
)

// TestPerImage: one build per image however many ask at once; another
// image has its own.
func TestPerImage(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var images []*symbols.Image
	for range 2 {
		im, err := symbols.Open(exe)
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		images = append(images, im)
	}
	var c perImage[int]
	var builds atomic.Int32
	var wg sync.WaitGroup
	got := make([]int, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = c.get(images[i%2], func() int { return int(builds.Add(1)) })
		}()
	}
	wg.Wait()
	if builds.Load() != 2 {
		t.Errorf("%d builds for 2 images", builds.Load())
	}
	for i := range got {
		if got[i] != got[i%2] || got[0] == got[1] {
			t.Fatalf("values %v: want one per image", got)
		}
	}
}
