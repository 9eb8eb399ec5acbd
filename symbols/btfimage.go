package symbols

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
	blob, _, err := im.Section(".BTF")
	if err != nil {
		return nil, err
	}
	return ParseSplitBTF(blob, base, im.path)
}

// IsSnapshot reports whether the image was loaded by LoadSnapshot: its
// types and data are the recorded ones, and it has no sections.
func (im *Image) IsSnapshot() bool { return im.snapTypes != nil }

// SnapshotSource is where a snapshot's recorded types came from ("btf",
// "dwarf"; "" for a snapshot that does not say, or an image that is none).
func (im *Image) SnapshotSource() string { return im.snapSource }
