//go:build linux

// Package offheap allocates large arrays of pointer-free values outside
// the Go heap, in anonymous mappings advised for transparent huge pages.
//
// A cold analysis builds a few arrays of megabytes (a kernel's symbol
// table and the keys that sort it) into fresh memory, and every 4 KiB
// page of fresh memory costs a page fault: 10-20 us each on the virtual
// machines support engineers' tools run in, most of the time to open a
// vmlinux. Backed by 2 MiB pages where the kernel grants them (its THP
// setting "madvise", Debian's default, grants them only on request) the
// same memory costs a fault per 2 MiB; elsewhere it is ordinary memory.
package offheap

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of an x86-64 transparent huge page.
const hugePage = 2 << 20

// Slice returns n zeroed values of T outside the Go heap and the function
// that releases them (after which the slice must not be used). T must hold
// no pointers into the Go heap: the garbage collector does not see this
// memory. Small requests, and a failed mapping, come from the Go heap (the
// release then does nothing).
func Slice[T any](n int) ([]T, func()) {
	var zero T
	size := uintptr(n) * unsafe.Sizeof(zero)
	if n <= 0 || size < hugePage/2 || size/unsafe.Sizeof(zero) != uintptr(n) {
		return make([]T, n), func() {}
	}
	// a mapping a huge page larger, used from its first aligned address
	m, err := syscall.Mmap(-1, 0, int(size)+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]T, n), func() {}
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	off := (hugePage - base%hugePage) % hugePage
	mem := m[off : off+size]
	syscall.Madvise(mem, syscall.MADV_HUGEPAGE) // refused is fine
	s := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), n)
	return s, func() { syscall.Munmap(m) }
}
