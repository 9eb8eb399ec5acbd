package symbols

import (
	"fmt"
	"io"
)

// BTF returns the types of the image's .BTF section (a kernel built with
// CONFIG_DEBUG_INFO_BTF, 5.2+; a module's split BTF needs its base, see
// ModuleBTF). It reports an error wrapping ErrNotFound when there is no
// .BTF section. The result is parsed once and shared.
func (im *Image) BTF() (*BTFTypes, error) {
	im.btfOnce.Do(func() {
		blob, _, err := im.Section(".BTF") // the mapping's bytes, not a copy
		if err != nil {
			im.btfErr = err
			return
		}
		im.btf, im.btfErr = ParseBTF(blob, im.path)
	})
	return im.btf, im.btfErr
}

// ModuleBTF parses a module image's split .BTF section against the
// kernel's BTF.
func (im *Image) ModuleBTF(base *BTFTypes) (*BTFTypes, error) {
	blob, err := im.sectionBytes(".BTF")
	if err != nil {
		return nil, err
	}
	return ParseSplitBTF(blob, base, im.path)
}

// sectionBytes reads a whole section of the image's ELF file.
func (im *Image) sectionBytes(name string) ([]byte, error) {
	if im.file == nil {
		return nil, &notFoundError{what: "section " + name + " (a snapshot has no sections)", file: im.path}
	}
	s := im.file.Section(name)
	if s == nil {
		return nil, &notFoundError{what: "section " + name, file: im.path}
	}
	if s.Size > maxReadData {
		return nil, fmt.Errorf("symbols: %s: section %s of %d bytes is implausibly large", im.path, name, s.Size)
	}
	b := make([]byte, s.Size)
	if _, err := io.ReadFull(s.Open(), b); err != nil {
		return nil, fmt.Errorf("symbols: %s: reading section %s: %w", im.path, name, err)
	}
	return b, nil
}

// IsSnapshot reports whether the image was loaded by LoadSnapshot: its
// types and data are the recorded ones, and it has no sections.
func (im *Image) IsSnapshot() bool { return im.snapTypes != nil }

// SnapshotSource is where a snapshot's recorded types came from ("btf",
// "dwarf"; "" for a snapshot that does not say, or an image that is none).
func (im *Image) SnapshotSource() string { return im.snapSource }
