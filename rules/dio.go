package rules

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/vmtriage/vmtriage/analyzer"
	"github.com/vmtriage/vmtriage/rules/report"
)

// dio-lost-wakeup is Red Hat bug 451819: dio_bio_end_aio() reads
// dio->waiter without dio->bio_lock, races with dio_await_one() and wakes
// nobody; the submitter sleeps forever on I/O that has completed.
func init() {
	Register(Rule{Meta: Meta{
		ID:       "dio-lost-wakeup",
		Title:    "Direct-I/O lost wakeup: task waits forever for I/O that already completed",
		Severity: report.Critical,
		References: []string{
			"https://bugzilla.redhat.com/show_bug.cgi?id=451819",
			"upstream 5eb6c7a2ab41 (dio: lock refcount operations)",
			"upstream fcb82f8835c1 (dio: remove bogus refcounting BUG_ON)",
			"RHSA-2009:1024",
		},
		FixedIn: []string{"2.6.20 (upstream)", "2.6.9-78.1.EL (RHEL 4)"},
	}, Evaluate: evalDIOLostWakeup})
}

// DIODetails are the details of a dio-lost-wakeup finding: the direct-I/O
// request (struct dio) the task sleeps on, and the journal it stalls.
type DIODetails struct {
	DIO Hex `json:"dio"`
	// FoundBy says how the dio was found: the frame's local variable, or
	// (FoundAt) a pointer on the stack.
	FoundBy      string `json:"found_by,omitempty"`
	FoundAt      Hex    `json:"found_at,omitempty"`
	Refcount     int64  `json:"refcount"`
	Waiter       Hex    `json:"waiter"`
	BioList      Hex    `json:"bio_list"`
	IsAsync      int64  `json:"is_async"`
	Result       int64  `json:"result"`
	Size         uint64 `json:"size"`
	IOCB         *IOCB  `json:"iocb,omitempty"`
	File         string `json:"file,omitempty"`
	Inode        Hex    `json:"inode"`
	PartialWrite string `json:"partial_write,omitempty"`
	BioSlabCheck string `json:"bio_slab_check"`
	// TimeoutArmed says whether the sleep has a timer (current kernels
	// sleep in io_schedule_timeout(hung_task_timeout_secs/2) and recheck).
	TimeoutArmed bool   `json:"timeout_armed"`
	Timeout      string `json:"timeout,omitempty"`
	// Journal is the journal the task holds a handle on, if any.
	Journal *JournalDetails `json:"journal,omitempty"`
}

// Hex is an address in a rule's details.
type Hex = report.Hex

// IOCB is the AIO request being submitted.
type IOCB struct {
	Opcode string `json:"opcode"`
	FD     int    `json:"fd"`
	Buf    Hex    `json:"buf"`
	NBytes uint64 `json:"nbytes"`
	Offset Hex    `json:"offset"`
	Kiocb  Hex    `json:"kiocb"`
	Copy   *Hex   `json:"stack_copy,omitempty"`
}

func evalDIOLostWakeup(c *Context) ([]report.Finding, error) {
	var out []report.Finding
	candidates := 0
	for i := range c.Tasks {
		t := &c.Tasks[i]
		if !examined(t) {
			continue
		}
		d, ok := c.DIO(t)
		if !ok {
			continue
		}
		candidates++
		if f, ok := dioFinding(c, t, d); ok {
			out = append(out, f)
		}
	}
	if candidates == 0 {
		return nil, fmt.Errorf("%w: no task sleeps on a direct-I/O request", ErrNotApplicable)
	}
	return out, nil
}

func dioFinding(c *Context, t *analyzer.Task, d analyzer.DIO) (report.Finding, bool) {
	const id = "dio-lost-wakeup"
	frames := c.Frames(t)
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
	for _, f := range facts {
		if !f.Holds {
			return report.Finding{}, false // the bio check is the costly one: only for a match so far
		}
	}
	bc := c.BioCheck(d)
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
	if !bioFact.Holds {
		return report.Finding{}, false
	}
	confidence := "high"
	if !bc.Ran {
		confidence = "medium" // the strongest corroboration could not run
	}
	ev := &DIODetails{DIO: Hex(d.Addr), FoundBy: d.From, FoundAt: Hex(d.Slot), Refcount: d.Refcount,
		Waiter: Hex(d.Waiter), BioList: Hex(d.BioList), IsAsync: d.IsAsync, Result: d.Result,
		Size: d.Size, Inode: Hex(d.Inode), BioSlabCheck: bc.Account}
	if d.IOCB != 0 {
		if io, err := c.K.Kiocb(*t, d.IOCB); err == nil {
			ev.IOCB = &IOCB{Opcode: io.OpName, FD: io.FD, Buf: Hex(io.Buf), NBytes: io.NBytes,
				Offset: Hex(uint64(io.Offset)), Kiocb: Hex(io.Kiocb)}
			if io.UserCopy != 0 {
				cp := Hex(io.UserCopy)
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
	if to, ok, err := c.K.ArmedTimeout(*t, frames, c.System.Uptime); ok {
		ev.TimeoutArmed = true
		ev.Timeout = fmt.Sprintf("timer 0x%x expires at jiffies %d (now %d), in %.0f s: the task then rechecks refcount, sees 1 and goes on, so the customer sees stalls of up to hung_task_timeout_secs/2 rather than a permanent hang", to.Timer, to.Expires, to.Jiffies, to.FiresInSecs)
	} else if err != nil {
		ev.Timeout = "a timeout may be armed but its timer was not found: " + err.Error()
	} else {
		ev.Timeout = "no timer armed: the task sleeps until woken, i.e. for good"
	}
	f := report.Finding{
		Confidence: confidence,
		Bucket:     Bucket(id, []string{analyzer.WaitChannel(frames)}, c.System.Release),
		Verdict:    dioVerdict(c.System.Release),
		RootTask:   c.TaskRef(t.Addr, true), Facts: facts,
	}
	f.Summary = fmt.Sprintf("%s %d sleeps in %s on dio 0x%x with refcount 1 and waiter set: the completion ran and woke nobody (race between dio_bio_end_aio() and dio_await_one())",
		t.Comm, t.PID, analyzer.WaitChannel(frames), d.Addr)
	if tr, ok := c.HandleTransaction(t); ok {
		if j := c.journalOf(tr); j != nil {
			ev.Journal = c.journalDetails(j)
			f.Summary += fmt.Sprintf("; it holds a handle on the journal of %s, which stalls every writer there", j.Mount)
		}
	}
	f.Evidence = dioRows(ev)
	if ev.Journal != nil {
		f.Evidence = append(f.Evidence, journalRows(ev.Journal)...)
	}
	f.Details = report.DetailsOf(ev)
	return f, true
}

// dioRows are the evidence rows of a dio.
func dioRows(e *DIODetails) []report.EvidenceRow {
	foundBy := e.FoundBy
	if foundBy == "" {
		foundBy = "pointer found on the stack at " + e.FoundAt.String()
	}
	rows := []report.EvidenceRow{
		{Label: "dio", Value: e.DIO.String() + " (" + foundBy + ")", Ref: report.AddrRef(uint64(e.DIO))},
		{Label: "refcount", Value: fmt.Sprint(e.Refcount)},
		{Label: "waiter", Value: e.Waiter.String(), Ref: report.TaskRefOf(uint64(e.Waiter))},
		{Label: "bio_list", Value: e.BioList.String()},
		{Label: "is_async", Value: fmt.Sprint(e.IsAsync)},
		{Label: "result / size", Value: fmt.Sprintf("0x%x / 0x%x", e.Result, e.Size)},
		{Label: "inode", Value: e.Inode.String(), Ref: report.AddrRef(uint64(e.Inode))},
	}
	if io := e.IOCB; io != nil {
		src := "kiocb " + io.Kiocb.String()
		if io.Copy != nil {
			src += ", user iocb copy at " + io.Copy.String()
		}
		rows = append(rows, report.EvidenceRow{Label: "iocb", Value: fmt.Sprintf("%s fd %d buf %s nbytes 0x%x offset %s (%s)",
			io.Opcode, io.FD, io.Buf, io.NBytes, io.Offset, src), Ref: report.AddrRef(uint64(io.Kiocb))})
	}
	if e.File != "" {
		rows = append(rows, report.EvidenceRow{Label: "file", Value: e.File})
	}
	rows = append(rows, report.EvidenceRow{Label: "bio slab check", Value: e.BioSlabCheck})
	if e.Timeout != "" {
		armed := "no"
		if e.TimeoutArmed {
			armed = "yes"
		}
		rows = append(rows, report.EvidenceRow{Label: "timeout armed", Value: armed + ": " + e.Timeout})
	}
	if e.PartialWrite != "" {
		rows = append(rows, report.EvidenceRow{Label: "why an async write waited", Value: e.PartialWrite})
	}
	return rows
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
