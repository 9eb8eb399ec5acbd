package analyzer

import (
	"runtime"
	"sync"
	"weak"

	"github.com/vmtriage/vmtriage/symbols"
)

// perImage holds one value per symbols.Image, computed once, and dropped
// when the image is collected: what is decoded from a vmlinux is shared by
// every dump of its kernel (a batch's, or a recording's replays).
type perImage[T any] struct {
	mu sync.Mutex
	m  map[weak.Pointer[symbols.Image]]*imageOnce[T]
}

type imageOnce[T any] struct {
	once sync.Once
	v    T
}

// get returns im's value, computing it with build the first time; callers
// for other images do not wait for it.
func (c *perImage[T]) get(im *symbols.Image, build func() T) T {
	key := weak.Make(im)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[weak.Pointer[symbols.Image]]*imageOnce[T]{}
	}
	e, ok := c.m[key]
	if !ok {
		e = &imageOnce[T]{}
		c.m[key] = e
		runtime.AddCleanup(im, func(k weak.Pointer[symbols.Image]) {
			c.mu.Lock()
			delete(c.m, k)
			c.mu.Unlock()
		}, key)
	}
	c.mu.Unlock()
	e.once.Do(func() { e.v = build() })
	return e.v
}
