//go:build !linux

package offheap

// Slice returns n zeroed values of T and a release function that does
// nothing: outside Linux they come from the Go heap.
func Slice[T any](n int) ([]T, func()) { return make([]T, n), func() {} }
