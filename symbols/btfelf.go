package symbols

import (
	"debug/elf"
	"encoding/binary"
	"io"
)

// btfELF presents a raw BTF blob as a minimal ELF object (the blob as its
// .BTF section, an empty symbol table) for btf.LoadSpecFromReader. Given
// the raw blob, that function copies it through io.ReadAll: in growing
// chunks, then once more into the final buffer, 8 MB of fresh heap for a
// kernel's 4 MB blob and most of the BTF's cost on a cold start, all page
// faults. From an ELF object it reads the section into one buffer of its
// size. The blob is read, not copied, until then.
type btfELF struct {
	head []byte // ELF header, section contents and section headers
	blob []byte // at blobOff
}

// btfBlobOff is where the .BTF section starts in the presented file.
const btfBlobOff = 4096

func newBTFELF(blob []byte) *btfELF {
	var bo binary.ByteOrder = binary.LittleEndian
	data := elf.ELFDATA2LSB
	if len(blob) >= 2 && blob[0] == 0xeb && blob[1] == 0x9f { // big-endian magic
		bo, data = binary.BigEndian, elf.ELFDATA2MSB
	}
	const (
		ehSize  = 64
		shSize  = 64
		symSize = 24
	)
	shstr := "\x00.BTF\x00.symtab\x00.strtab\x00.shstrtab\x00"
	shstrOff := uint64(ehSize)
	symOff := (shstrOff + uint64(len(shstr)) + 7) &^ 7
	strOff := symOff + symSize
	shOff := (strOff + 1 + 7) &^ 7
	head := make([]byte, shOff+5*shSize)
	copy(head, elf.ELFMAG)
	head[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	head[elf.EI_DATA] = byte(data)
	head[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	bo.PutUint16(head[16:], uint16(elf.ET_REL))
	bo.PutUint16(head[18:], uint16(elf.EM_NONE))
	bo.PutUint32(head[20:], uint32(elf.EV_CURRENT))
	bo.PutUint64(head[40:], shOff)  // e_shoff
	bo.PutUint16(head[52:], ehSize) // e_ehsize
	bo.PutUint16(head[58:], shSize) // e_shentsize
	bo.PutUint16(head[60:], 5)      // e_shnum
	bo.PutUint16(head[62:], 4)      // e_shstrndx
	copy(head[shstrOff:], shstr)    // the symbol table (one null entry) and .strtab ("\0") are zeros
	section := func(i int, name uint32, typ elf.SectionType, off, size uint64, link, info uint32, entsize uint64) {
		h := head[shOff+uint64(i)*shSize:]
		bo.PutUint32(h[0:], name)
		bo.PutUint32(h[4:], uint32(typ))
		bo.PutUint64(h[24:], off)
		bo.PutUint64(h[32:], size)
		bo.PutUint32(h[40:], link)
		bo.PutUint32(h[44:], info)
		bo.PutUint64(h[48:], 1) // sh_addralign
		bo.PutUint64(h[56:], entsize)
	}
	section(1, 1, elf.SHT_PROGBITS, btfBlobOff, uint64(len(blob)), 0, 0, 0)
	section(2, 6, elf.SHT_SYMTAB, symOff, symSize, 3, 1, symSize)
	section(3, 14, elf.SHT_STRTAB, strOff, 1, 0, 0, 0)
	section(4, 22, elf.SHT_STRTAB, shstrOff, uint64(len(shstr)), 0, 0, 0)
	return &btfELF{head: head, blob: blob}
}

// ReadAt reads the presented file: the head, zeros up to the blob, the blob.
func (f *btfELF) ReadAt(p []byte, off int64) (int, error) {
	size := int64(btfBlobOff + len(f.blob))
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := 0
	for n < len(p) && off < size {
		var m int
		switch {
		case off < int64(len(f.head)):
			m = copy(p[n:], f.head[off:])
		case off < btfBlobOff:
			m = int(min(int64(len(p)-n), btfBlobOff-off))
			clear(p[n : n+m])
		default:
			// in 64 KiB steps: one copy of megabytes into fresh pages is a
			// long stretch the garbage collector cannot preempt, and spins
			// signalling it
			m = copy(p[n:min(len(p), n+64<<10)], f.blob[off-btfBlobOff:])
		}
		n += m
		off += int64(m)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
