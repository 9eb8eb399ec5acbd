package rules

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// dioLostWakeup is Red Hat bug 451819: dio_bio_end_aio() reads dio->waiter
// without dio->bio_lock, races with dio_await_one() and wakes nobody; the
// submitter sleeps forever on I/O that has completed.
type dioLostWakeup struct{}

func (dioLostWakeup) ID() string { return "dio-lost-wakeup" }

var dioReferences = []string{
	"https://bugzilla.redhat.com/show_bug.cgi?id=451819",
	"upstream 5eb6c7a2ab41 (dio: lock refcount operations)",
	"upstream fcb82f8835c1 (dio: remove bogus refcounting BUG_ON)",
	"RHSA-2009:1024",
}

var dioFixedIn = []string{"2.6.20 (upstream)", "2.6.9-78.1.EL (RHEL 4)"}

func (r dioLostWakeup) Evaluate(c *Context) []report.Finding {
	var out []report.Finding
	for _, t := range c.Tasks {
		d, ok := c.DIOs[t.Addr]
		if !ok {
			continue
		}
		frames := c.Frames[t.Addr]
		facts := []report.Fact{
			{Name: "task sleeps uninterruptibly", Holds: t.StateName() == "UN",
				Evidence: fmt.Sprintf("task 0x%x state %s", t.Addr, t.StateName())},
			{Name: "task sleeps inside direct I/O on a dio whose waiter is the task",
				Holds: d.Waiter == t.Addr && analyzer.HasFrame(frames, directIOFuncs...) &&
					analyzer.HasFrame(frames, "io_schedule", "io_schedule_timeout", "dio_await_one"),
				Evidence: fmt.Sprintf("dio 0x%x (%s), waiter 0x%x; stack: %s", d.Addr, d.From, d.Waiter, frameNames(frames, 6))},
			{Name: "nothing is in flight (refcount 1)", Holds: d.Refcount == 1,
				Evidence: fmt.Sprintf("refcount %d, bio_list 0x%x", d.Refcount, d.BioList)},
		}
		bc := c.Bios[t.Addr]
		bioFact := report.Fact{Name: "no allocated bio points at the dio (bio slab check)", Holds: len(bc.InFlight) == 0}
		switch {
		case len(bc.InFlight) > 0:
			bioFact.Evidence = fmt.Sprintf("allocated bio 0x%x has bi_private 0x%x: I/O is in flight; %s", bc.InFlight[0], d.Addr, bc.Account)
		case bc.Ran:
			bioFact.Evidence = "none: " + bc.Account
		default:
			bioFact.Evidence = bc.Account + "; refcount 1 already means only the submitter's reference is left"
		}
		facts = append(facts, bioFact)
		match := true
		for _, f := range facts {
			match = match && f.Holds
		}
		if !match {
			continue
		}
		confidence := "high"
		if !bc.Ran {
			confidence = "medium" // the strongest corroboration could not run
		}
		ev := &report.DIOEvidence{DIO: report.Hex(d.Addr), FoundBy: d.From, FoundAt: report.Hex(d.Slot), Refcount: d.Refcount,
			Waiter: report.Hex(d.Waiter), BioList: report.Hex(d.BioList), IsAsync: d.IsAsync, Result: d.Result,
			Size: d.Size, Inode: report.Hex(d.Inode), BioSlabCheck: bc.Account}
		if d.IOCB != 0 {
			if io, err := c.K.Kiocb(t, d.IOCB); err == nil {
				ev.IOCB = &report.IOCB{Opcode: io.OpName, FD: io.FD, Buf: report.Hex(io.Buf), NBytes: io.NBytes,
					Offset: report.Hex(uint64(io.Offset)), Kiocb: report.Hex(io.Kiocb)}
				if io.UserCopy != 0 {
					cp := report.Hex(io.UserCopy)
					ev.IOCB.Copy = &cp
				}
				if io.File != 0 {
					if f, err := c.K.File(io.File); err == nil {
						ev.File = f.Path
					}

				}
			}
		}
		size := d.Size
		if size == 0 && ev.IOCB != nil {
			size = ev.IOCB.NBytes // 4.x+ struct dio has no size: the request's length
			ev.Size = size
		}
		if d.IsAsync == 1 && d.Result > 0 && size > 0 && uint64(d.Result) < size {
			ev.PartialWrite = fmt.Sprintf("is_async 1 but result 0x%x < size 0x%x: the write into a hole of a sparse file completed only partially, so the request did not return -EIOCBQUEUED and waited synchronously for its bios (dio_await_completion)", d.Result, size)
		}
		if to, ok, err := c.K.ArmedTimeout(t, frames, c.System.Uptime); ok {
			ev.TimeoutArmed = true
			ev.Timeout = fmt.Sprintf("timer 0x%x expires at jiffies %d (now %d), in %.0f s: the task then rechecks refcount, sees 1 and goes on, so the customer sees stalls of up to hung_task_timeout_secs/2 rather than a permanent hang", to.Timer, to.Expires, to.Jiffies, to.FiresInSecs)
		} else if err != nil {
			ev.Timeout = "a timeout may be armed but its timer was not found: " + err.Error()
		} else {
			ev.Timeout = "no timer armed: the task sleeps until woken, i.e. for good"
		}
		f := report.Finding{
			Rule: r.ID(), Title: "Direct-I/O lost wakeup: task waits forever for I/O that already completed",
			Severity: "critical", Confidence: confidence,
			Bucket:     Bucket(r.ID(), []string{analyzer.WaitChannel(frames)}, c.System.Release),
			References: dioReferences, FixedIn: dioFixedIn, Verdict: dioVerdict(c.System.Release),
			RootTask: c.taskRef(t.Addr, true), Evidence: ev, Facts: facts,
		}
		f.Summary = fmt.Sprintf("%s %d sleeps in %s on dio 0x%x with refcount 1 and waiter set: the completion ran and woke nobody (race between dio_bio_end_aio() and dio_await_one())",
			t.Comm, t.PID, analyzer.WaitChannel(frames), d.Addr)
		if _, tr, err := c.K.HandleTransaction(t); err == nil {
			if j := c.journalOf(tr); j != nil {
				f.Journal = c.journalEvidence(j)
				f.Summary += fmt.Sprintf("; it holds a handle on the journal of %s, which stalls every writer there", j.Mount)
			}
		}
		out = append(out, f)
	}
	return out
}

func frameNames(frames []analyzer.Frame, n int) string {
	s := ""
	for i, f := range frames {
		if i == n {
			s += " ..."
			break
		}
		if i > 0 {
			s += " <- "
		}
		s += f.Func
	}
	return s
}

var rhel4Release = regexp.MustCompile(`^2\.6\.9-(\d+)(?:\.(\d+))?`)

// dioVerdict says whether the dump's kernel predates the fix.
func dioVerdict(release string) string {
	if m := rhel4Release.FindStringSubmatch(release); m != nil {
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		if major < 78 || (major == 78 && minor < 1) {
			return fmt.Sprintf("known bug, fix available: %s predates 2.6.9-78.1.EL (RHSA-2009:1024)", release)
		}
		return fmt.Sprintf("%s already carries the RHEL 4 fix (2.6.9-78.1.EL): a new cause of the same symptom", release)
	}
	if v := releaseFamily.FindStringSubmatch(release); v != nil && v[1] == "2" && v[2] == "6" && atoi(v[3]) < 20 {
		return fmt.Sprintf("known bug, fix available: %s predates upstream 2.6.20", release)
	}
	return fmt.Sprintf("%s carries the upstream fix: the same symptom from a new cause, or the state caught between a completion and the waiter's recheck", release)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
