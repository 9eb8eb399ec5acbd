package analyzer

import (
	"fmt"
	"sort"
)

// Journal is the jbd/jbd2 journal of a mounted ext3/ext4 file system.
type Journal struct {
	Addr        uint64
	SuperBlock  uint64
	SBInfo      uint64
	Device      string
	Mount       string
	FSType      string
	Transaction uint64 // j_running_transaction
	Committing  uint64 // j_committing_transaction
	TState      string // "T_LOCKED", ...
	TUpdates    int64
	CommitTask  uint64 // j_task: kjournald / jbd2/<dev>
	WaitUpdates []uint64
	WaitLocked  []uint64 // tasks on j_wait_transaction_locked
}

// JournalFeatures say which journalling file systems the kernel has.
type JournalFeatures struct {
	// SBInfo maps a file system type to its private super-block info.
	// ext3 file systems are mounted by the ext4 driver since 4.3
	// (c290ea01abb7 "fs: Remove ext3 filesystem driver"), their s_fs_info
	// then being a struct ext4_sb_info.
	SBInfo map[string]string
	// Layer is "jbd2" (2.6.19+, ext4's journal; ext3's too since 4.3) or
	// "jbd" (ext3 until 4.2); both name their journal journal_t.
	Layer string
}

func (k *Kernel) probeJournals(f *Features) {
	j := &f.Journal
	j.SBInfo = map[string]string{"ext4": "struct ext4_sb_info", "ext3": "struct ext4_sb_info"}
	// ext3's own driver (a module on 2.6 distribution kernels: its
	// symbols come from the dump)
	if k.hasType("struct ext3_sb_info") || k.hasSymbol("ext3_fill_super") {
		j.SBInfo["ext3"] = "struct ext3_sb_info"
	}
	switch {
	case k.hasSymbol("jbd2_journal_start"):
		j.Layer = "jbd2"
	case k.hasSymbol("journal_start"):
		j.Layer = "jbd"
	}
	f.set("journal.ext3", "%s", j.SBInfo["ext3"])
	f.set("journal.layer", "%s", orNone(j.Layer))
}

// Journals lists the journals of mounted ext3/ext4 file systems: super
// blocks -> s_fs_info -> s_journal, with their device and mount point.
func (k *Kernel) Journals() ([]Journal, error) { return k.journals.get(k.readJournals) }

func (k *Kernel) readJournals() ([]Journal, error) {
	mounts, err := k.Mounts()
	if err != nil {
		k.warnf("mounts: %v", err)
	}
	bySB := map[uint64]Mount{}
	for _, m := range mounts {
		if _, ok := bySB[m.SuperBlock]; !ok {
			bySB[m.SuperBlock] = m
		}
	}
	head, err := k.Addr("super_blocks")
	if err != nil {
		return nil, err
	}
	var out []Journal
	err = k.ListEach(head, func(node uint64) error {
		sbAddr, err := k.containerOf(node, "struct super_block", "s_list")
		if err != nil {
			return err
		}
		fsType := k.fsType(sbAddr)
		infoType, ok := k.Features.Journal.SBInfo[fsType]
		if !ok {
			return nil
		}
		sb, err := k.Object("struct super_block", sbAddr)
		if err != nil {
			return err
		}
		info, err := sb.Deref("s_fs_info", infoType)
		if err != nil {
			k.warnf("super block 0x%x: %v", sbAddr, err)
			return nil
		}
		jAddr, err := info.Uint("s_journal")
		if err != nil || jAddr == 0 {
			return nil
		}
		j, err := k.journal(jAddr)
		if err != nil {
			k.warnf("journal 0x%x of super block 0x%x: %v", jAddr, sbAddr, err)
			return nil
		}
		j.SuperBlock, j.SBInfo, j.FSType = sbAddr, info.Addr, fsType
		if m, ok := bySB[sbAddr]; ok {
			j.Device, j.Mount = m.Device, m.Path
		} else if id, err := sb.Chars("s_id"); err == nil {
			j.Device = id
		}
		out = append(out, j)
		return nil
	})
	if err != nil {
		k.warnf("super_blocks list: %v (journals after that point are missing)", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Mount < out[j].Mount })
	return out, nil
}

func (k *Kernel) journal(addr uint64) (Journal, error) {
	typeName := "journal_t"
	o, err := k.Object(typeName, addr)
	if err != nil {
		return Journal{}, err
	}
	j := Journal{Addr: addr}
	j.Transaction, _ = o.Uint("j_running_transaction")
	j.Committing, _ = o.Uint("j_committing_transaction")
	j.CommitTask, _ = o.Uint("j_task")
	if a, err := o.FieldAddr("j_wait_updates"); err == nil {
		if j.WaitUpdates, err = k.WaitQueue(a); err != nil {
			k.warnf("journal 0x%x j_wait_updates: %v", addr, err)
		}
	}
	if a, err := o.FieldAddr("j_wait_transaction_locked"); err == nil {
		if j.WaitLocked, err = k.WaitQueue(a); err != nil {
			k.warnf("journal 0x%x j_wait_transaction_locked: %v", addr, err)
		}
	}
	// the transaction the commit thread works on: the running one while it
	// is being locked (jbd), else the committing one
	tr := j.Transaction
	if tr == 0 {
		tr = j.Committing
	}
	if tr != 0 {
		t, err := k.Object("transaction_t", tr)
		if err != nil {
			return j, fmt.Errorf("transaction: %w", err)
		}
		state, err := t.Uint("t_state")
		if err != nil {
			return j, err
		}
		j.TState = fmt.Sprint(state)
		f, _ := t.Type.Field("t_state")
		if name, ok := f.Type.Resolve().EnumName(int64(state)); ok {
			j.TState = name
		}
		path := "t_updates"
		if t.Has("t_updates.counter") {
			path = "t_updates.counter"
		}
		j.TUpdates, _ = t.Int(path)
	}
	return j, nil
}

// HandleTransaction follows task->journal_info -> handle->h_transaction.
func (k *Kernel) HandleTransaction(t Task) (handle, transaction uint64, err error) {
	if t.JournalInfo == 0 {
		return 0, 0, nil
	}
	h, err := k.Object("handle_t", t.JournalInfo)
	if err != nil {
		return t.JournalInfo, 0, err
	}
	tr, err := h.Uint("h_transaction")
	return t.JournalInfo, tr, err
}
