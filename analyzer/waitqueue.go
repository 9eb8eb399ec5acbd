package analyzer

import "fmt"

// WaitQueueFeatures say how a wait queue's entries are linked.
type WaitQueueFeatures struct {
	// HeadList is the list in the head: "head" (4.13+, 2055da97389a
	// "sched/wait: Disambiguate wq_entry->task_list and
	// wq_head->task_list naming") or "task_list".
	HeadList string
	// EntryType is "struct wait_queue_entry" (4.13+, ac6424b981bc
	// "sched/wait: Rename wait_queue_t => wait_queue_entry_t") or
	// "wait_queue_t"; EntryList its list member ("entry" or "task_list")
	// and EntryTask the sleeper ("private", or "task" on 2.6.9).
	EntryType, EntryList, EntryTask string
}

func (k *Kernel) probeWaitQueues(f *Features) {
	w := &f.WaitQueue
	head := k.firstType("struct wait_queue_head", "wait_queue_head_t", "struct __wait_queue_head")
	if head != "" {
		w.HeadList = k.firstMember(head, "head", "task_list")
	}
	w.EntryType = k.firstType("struct wait_queue_entry", "wait_queue_t", "struct __wait_queue")
	if w.EntryType != "" {
		w.EntryList = k.firstMember(w.EntryType, "entry", "task_list")
		w.EntryTask = k.firstMember(w.EntryType, "private", "task")
	}
	f.set("waitqueue.head", "%s", orNone(w.HeadList))
	f.set("waitqueue.entry", "%s.%s/%s", orNone(w.EntryType), orNone(w.EntryList), orNone(w.EntryTask))
}

// WaitQueue lists the tasks queued on a wait queue head.
func (k *Kernel) WaitQueue(head uint64) ([]uint64, error) {
	w := k.Features.WaitQueue
	if w.HeadList == "" || w.EntryType == "" || w.EntryList == "" || w.EntryTask == "" {
		return nil, fmt.Errorf("wait queue at 0x%x: the kernel's wait queue types were not found", head)
	}
	hd, err := k.Object("wait_queue_head_t", head)
	if err != nil {
		return nil, err
	}
	lh, err := hd.FieldAddr(w.HeadList)
	if err != nil {
		return nil, err
	}
	var tasks []uint64
	err = k.ListEach(lh, func(node uint64) error {
		e, err := k.containerOf(node, w.EntryType, w.EntryList)
		if err != nil {
			return err
		}
		o, err := k.Object(w.EntryType, e)
		if err != nil {
			return err
		}
		t, err := o.Uint(w.EntryTask)
		if err != nil {
			return err
		}
		tasks = append(tasks, t)
		return nil
	})
	return tasks, err
}
