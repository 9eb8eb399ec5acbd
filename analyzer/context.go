package analyzer

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmtriage/vmtriage/vmcore/addrspace"
)

// cancellableDump stops serving reads once the analysis's context is done,
// so every walk in progress ends at its next read and the analysis
// returns instead of running on after its caller gave up (a batch's
// per-dump --timeout).
type cancellableDump struct {
	addrspace.Dump
	ctx context.Context
}

func (d cancellableDump) ReadPhys(pa uint64, p []byte) error {
	select {
	case <-d.ctx.Done():
		return fmt.Errorf("physical 0x%x: analysis abandoned: %w", pa, context.Cause(d.ctx))
	default:
	}
	return d.Dump.ReadPhys(pa, p)
}

// errClosing stops the background walks of a kernel being closed.
var errClosing = errors.New("the kernel is being closed")

// stopped is why a background walk should stop: the kernel is being
// closed, or the analysis was abandoned (Err).
func (k *Kernel) stopped() error {
	if k.closing.Load() {
		return errClosing
	}
	return k.Err()
}

// Err is the reason the analysis was abandoned (its context is done), or nil.
func (k *Kernel) Err() error {
	if k.ctx == nil {
		return nil
	}
	if k.ctx.Err() != nil {
		return context.Cause(k.ctx)
	}
	return nil
}
