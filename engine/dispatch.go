package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// claimBatch bounds the outbox items one replica sends at once; the store
// hands out at most one item per session and lane (voice, TaskRouter), so
// they run in parallel safely.
const claimBatch = 32

// Run sends outbox items until ctx ends: woken right after a commit, and
// every PollInterval for retries that came due and work other replicas
// left behind. While the store fails (a database down, a read-only file)
// it backs off, doubling from PollInterval up to maxDispatchBackoff, and
// logs one error at most once per maxDispatchBackoff, with how many it
// left out; a commit's wake-up still tries at once.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTimer(e.cfg.PollInterval)
	defer t.Stop()
	pace := dispatchPace{poll: e.cfg.PollInterval}
	for {
		n, err := e.DispatchOnce(ctx)
		wait := e.cfg.PollInterval
		switch {
		case err != nil && ctx.Err() == nil:
			var log bool
			var suppressed int
			wait, log, suppressed = pace.failed(e.clock.Now(), err)
			if log {
				e.log.Error("outbox: the store failed; backing off", "error", err, "retry_in", wait.String(),
					"suppressed", suppressed)
			}
		case err == nil:
			if failures, ok := pace.recovered(); ok {
				e.log.Info("outbox: the store answers again", "failed_attempts", failures)
			}
			if n > 0 {
				continue
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-t.C:
		}
	}
}

// maxDispatchBackoff bounds the dispatcher's wait after a store error, and
// how often one error is logged.
const maxDispatchBackoff = 10 * time.Second

// dispatchPace paces the dispatcher while the store fails.
type dispatchPace struct {
	poll       time.Duration
	wait       time.Duration // 0: the last attempt did not fail
	failures   int           // attempts failed since the last success
	last       string        // the error last logged
	loggedAt   time.Time
	suppressed int // errors not logged since the last line
}

// failed notes a failed attempt at now: how long to wait before the next,
// whether to log this error, and how many were left out before it.
func (p *dispatchPace) failed(now time.Time, err error) (wait time.Duration, log bool, suppressed int) {
	p.failures++
	if p.wait == 0 {
		p.wait = p.poll
	} else {
		p.wait = min(2*p.wait, maxDispatchBackoff)
	}
	if msg := err.Error(); msg != p.last || now.Sub(p.loggedAt) >= maxDispatchBackoff {
		suppressed = p.suppressed
		p.last, p.loggedAt, p.suppressed = msg, now, 0
		return p.wait, true, suppressed
	}
	p.suppressed++
	return p.wait, false, 0
}

// recovered notes a successful attempt; ok when it ends a run of failures
// (how many).
func (p *dispatchPace) recovered() (failures int, ok bool) {
	failures, ok = p.failures, p.failures > 0
	*p = dispatchPace{poll: p.poll}
	return failures, ok
}

// Flush sends everything due until nothing is left or ctx ends (graceful
// shutdown, tests).
func (e *Engine) Flush(ctx context.Context) error {
	for {
		n, err := e.DispatchOnce(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// DispatchOnce claims due outbox items and sends them; it returns how many
// it handled. ctx ends the claiming, not the items claimed: each is sent
// and settled to the end, so that stopping the dispatcher on a graceful
// shutdown neither aborts a request Twilio may be carrying out nor leaves
// its item leased to a process about to exit. The lease bounds that end:
// after it another replica may take the item anyway.
func (e *Engine) DispatchOnce(ctx context.Context) (int, error) {
	items, err := e.cfg.Store.ClaimOutbox(ctx, e.cfg.Owner, e.clock.Now(), e.cfg.Lease, claimBatch)
	if err != nil || len(items) == 0 {
		return 0, err
	}
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Lease)
	defer cancel()
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.send(sendCtx, it)
		}()
	}
	wg.Wait()
	return len(items), nil
}

// restResult is what the history and the outbox row keep of an answer.
type restResult struct {
	Op      string `json:"op"`
	Action  string `json:"action"`
	Role    string `json:"role,omitempty"`
	Status  int    `json:"status,omitempty"`
	Sid     string `json:"sid,omitempty"`
	Code    int    `json:"code,omitempty"`
	Error   string `json:"error,omitempty"`
	Outcome string `json:"outcome"` // sent, gone, exists, retry, failed
	Attempt int    `json:"attempt"`
}

func (e *Engine) send(ctx context.Context, it store.OutboxItem) {
	var op outboxOp
	if err := json.Unmarshal(it.Payload, &op); err != nil {
		e.fail(ctx, it, op, restResult{Outcome: "failed", Error: "unreadable outbox payload: " + err.Error()})
		return
	}
	res := restResult{Op: op.Op.String(), Action: op.Action, Role: op.Role, Attempt: it.Attempts + 1}
	if failed, ok := strings.CutPrefix(it.LastError, failedUndelivered); ok {
		// Twilio refused this for good already (or the action could not
		// run); only telling the flow is left (fail could not, last
		// time): do not send it again. This also counts the deliveries,
		// so an error that stays gives up in the end.
		var prev restResult
		if json.Unmarshal([]byte(failed), &prev) == nil {
			e.deliverFailure(ctx, it, op, prev)
			return
		}
	}
	if op.Failure != "" {
		// An action that could not be asked for: only telling the flow.
		res.Op, res.Outcome, res.Error = "", "failed", op.Failure
		e.fail(ctx, it, op, res)
		return
	}
	if e.cfg.Twilio == nil {
		res.Outcome, res.Error = "failed", "no Twilio client configured"
		e.fail(ctx, it, op, res)
		return
	}
	out, existed, err := e.do(ctx, it, op.Op)
	var terr *twilio.Error
	if errors.As(err, &terr) {
		res.Status, res.Code, res.Error = terr.Status, terr.Code, terr.Message
	} else if err != nil {
		res.Error = err.Error()
	}
	switch {
	case err == nil && existed:
		// A resend after a crash: TaskRouter has the task already.
		res.Outcome, res.Sid = "exists", out.Sid
	case err == nil:
		res.Outcome, res.Status, res.Sid = "sent", out.Status, out.Sid
	case twilio.IsGone(err) && op.Op.Kind != twilio.OpCreateParticipant && op.Op.Kind != twilio.OpCreateTask:
		// The leg already left: the change it asked for is moot.
		res.Outcome = "gone"
	case twilio.IsDuplicateLabel(err) && op.Op.Kind == twilio.OpCreateParticipant:
		// A retry after an answer that was lost: the participant exists.
		res.Outcome = "exists"
	case moot(op.Op, terr):
		// TaskRouter refuses a change the task or reservation no longer
		// needs (already completed, reservation no longer pending — also
		// what a resend after a crash meets). Nothing for the flow to
		// recover: TaskRouter routes a task whose reservation lapsed again.
		res.Outcome = "moot"
		e.log.Warn("TaskRouter refused a change that no longer applies", "session", it.Session, "op", res.Op, "code", res.Code, "error", res.Error)
	case twilio.IsTemporary(err) && e.clock.Now().Sub(it.CreatedAt) < e.cfg.RetryFor:
		res.Outcome = "retry"
		e.stats.RESTRetries.Add(1)
		wait := backoff(it.Attempts, terr)
		next := e.clock.Now().Add(wait)
		// An operator sees Twilio (or the network) refusing before the
		// retries run out, not only afterwards.
		e.log.Warn("REST call failed, will retry", "session", it.Session, "op", res.Op, "status", res.Status, "code", res.Code,
			"attempt", it.Attempts+1, "retry_in", wait.String(), "error", res.Error)
		if err := e.cfg.Store.Retry(ctx, it.ID, e.cfg.Owner, next, res.Error); err != nil {
			e.log.Error("outbox retry", "session", it.Session, "id", it.ID, "error", err)
		}
		e.history(ctx, it.Session, res)
		return
	default:
		res.Outcome = "failed"
		e.fail(ctx, it, op, res)
		return
	}
	e.stats.RESTSent.Add(1)
	b, _ := json.Marshal(res)
	if err := e.cfg.Store.MarkSent(ctx, it.ID, e.cfg.Owner, b); err != nil {
		// Lost the lease: another replica will send it again, and labels
		// and "gone" answers make that harmless for participant calls.
		e.log.Warn("outbox mark sent", "session", it.Session, "id", it.ID, "error", err)
	}
	e.history(ctx, it.Session, res)
}

// do sends op. A CreateTask that may have gone out already — an earlier
// lease of its item ended with nothing recorded (a crash between Twilio's
// answer and MarkSent), or an earlier attempt failed in a way that leaves
// Twilio's side unknown — is looked up first by the flowd_op attribute the
// engine gave it; if TaskRouter has it, existed is true and nothing is sent.
// Twilio has no idempotency key for this request, so this is what keeps
// a transfer from creating a second task.
func (e *Engine) do(ctx context.Context, it store.OutboxItem, op twilio.Op) (out twilio.Result, existed bool, err error) {
	if op.Kind == twilio.OpCreateTask && it.Claims > 1 {
		if expr := createdTaskFilter(op); expr != "" {
			found, ferr := e.cfg.Twilio.Do(ctx, twilio.Op{Kind: twilio.OpFindTask, WorkspaceSid: op.WorkspaceSid,
				FindTask: &tr.ListTaskParams{EvaluateTaskAttributes: &expr}})
			switch {
			case ferr == nil && found.Sid != "":
				return found, true, nil
			case ferr != nil && twilio.IsTemporary(ferr):
				return twilio.Result{}, false, ferr
			case ferr != nil:
				// Cannot tell: creating again risks a second task, not
				// creating risks none at all. The caller is waiting.
				e.log.Warn("could not check for a task created before a crash; creating it", "session", it.Session, "error", ferr)
			}
		}
	}
	out, err = e.cfg.Twilio.Do(ctx, op)
	return out, false, err
}

// createdTaskFilter is the TaskRouter expression matching the task op
// creates, or "" for a task created without a flowd_op attribute.
func createdTaskFilter(op twilio.Op) string {
	if op.CreateTask == nil || op.CreateTask.Attributes == nil {
		return ""
	}
	var attrs struct {
		Op string `json:"flowd_op"`
	}
	if json.Unmarshal([]byte(*op.CreateTask.Attributes), &attrs) != nil || attrs.Op == "" || strings.ContainsAny(attrs.Op, `"\`) {
		return ""
	}
	return `flowd_op == "` + attrs.Op + `"`
}

// maxBackoff bounds every wait between attempts, Twilio's Retry-After
// included: an item holds back its lane, and a caller on hold behind an
// hour's Retry-After would wait that hour for the flow to hear anything.
const maxBackoff = 30 * time.Second

// backoff doubles from 500 ms up to 30 s, or waits what Twilio asked, up
// to 30 s.
func backoff(attempts int, terr *twilio.Error) time.Duration {
	if terr != nil && terr.RetryAfter > 0 {
		return min(terr.RetryAfter, maxBackoff)
	}
	d := 500 * time.Millisecond
	for i := 0; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

func (e *Engine) history(ctx context.Context, session string, res restResult) {
	b, _ := json.Marshal(res)
	if err := e.cfg.Store.AppendHistory(ctx, session, store.HistoryEntry{At: e.clock.Now(), Kind: "rest", Data: b}); err != nil {
		e.log.Warn("history", "session", session, "error", err)
	}
}

// maxFailureDeliveries bounds how often an item's action.failed event is
// tried after its delivery failed: with the backoff's 30 s at most
// between tries, about 10 minutes.
const maxFailureDeliveries = 20

// failedUndelivered marks an outbox item Twilio refused for good whose
// action.failed event could not be delivered yet: its LastError is this
// prefix and the refusal (a restResult in JSON).
const failedUndelivered = "failed, action.failed not delivered yet: "

// fail gives up on an outbox item and tells the flow (action.failed), so it
// can take the caller off hold or end the call rather than strand them.
// The flow is told first and the item settled after: an item marked failed
// whose event was then lost (the store briefly unreachable, a crash in
// between) would leave the caller on hold for good. If the event cannot be
// delivered, the item is kept and retried, marked so that the next attempt
// only delivers the event; the event's idempotency key makes a second
// delivery a replay.
func (e *Engine) fail(ctx context.Context, it store.OutboxItem, op outboxOp, res restResult) {
	e.history(ctx, it.Session, res)
	if op.Failure != "" {
		e.log.Warn("action could not run", "session", it.Session, "action", op.Action, "error", res.Error)
	} else {
		e.log.Warn("REST call failed for good", "session", it.Session, "op", res.Op, "code", res.Code, "status", res.Status, "error", res.Error)
	}
	e.deliverFailure(ctx, it, op, res)
}

// deliverFailure sends the flow action.failed for an item Twilio refused
// for good, then marks the item failed.
func (e *Engine) deliverFailure(ctx context.Context, it store.OutboxItem, op outboxOp, res restResult) {
	ev := Event{Source: SourceOutbox, Name: "action.failed", Session: it.Session,
		IdempotencyKey: "flowd-outbox-failed-" + strconv.FormatInt(it.ID, 10),
		Fields:         map[string]any{"action": op.Action, "role": op.Role, "error": res.Error, "code": res.Code, "status": res.Status, "op": string(op.Op.Kind)}}
	if op.Op.Participant != "" {
		// Which leg it was (call SID or label): the role may have another by now.
		ev.Fields["participant"] = op.Op.Participant
	}
	ev.failed = &op
	_, err := e.Handle(ctx, ev)
	// Attempts so far of this item since Twilio refused it (res.Attempt
	// numbers the refused one): each was a delivery of the event.
	deliveries := it.Attempts + 1 - res.Attempt
	switch {
	case err == nil || errors.Is(err, ErrUnknownSession):
	case deliveries >= maxFailureDeliveries:
		// Not a blip: an error that does not go away (a session the
		// flow cannot run) must not hold the call's lane for ever.
		e.log.Error("action.failed event could not be delivered; giving up", "session", it.Session, "id", it.ID, "error", fmt.Sprint(err))
	default:
		e.log.Error("action.failed event not delivered; will retry", "session", it.Session, "id", it.ID, "error", fmt.Sprint(err))
		b, _ := json.Marshal(res)
		next := e.clock.Now().Add(backoff(it.Attempts, nil))
		if rerr := e.cfg.Store.Retry(ctx, it.ID, e.cfg.Owner, next, failedUndelivered+string(b)); rerr != nil {
			e.log.Warn("outbox retry", "session", it.Session, "id", it.ID, "error", rerr)
		}
		return
	}
	if op.Failure == "" { // no REST call was made for an action that could not run
		e.stats.RESTFailures.Add(1)
	}
	b, _ := json.Marshal(res)
	if err := e.cfg.Store.MarkFailed(ctx, it.ID, e.cfg.Owner, res.Error, b); err != nil {
		// The event is delivered: a later attempt sends the request
		// again, and a second refusal only replays the event.
		e.log.Warn("outbox mark failed", "session", it.Session, "id", it.ID, "error", err)
	}
}

// moot reports a permanent TaskRouter refusal of a state change that has
// already happened or can no longer happen.
func moot(op twilio.Op, terr *twilio.Error) bool {
	if terr == nil || terr.Temporary {
		return false
	}
	switch op.Kind {
	case twilio.OpUpdateReservation:
		return twilio.IsReservationNotPending(terr)
	case twilio.OpUpdateTask:
		return op.UpdateTask != nil && op.UpdateTask.AssignmentStatus != nil &&
			terr.Status == 400 && op.UpdateTask.Attributes == nil
	}
	return false
}
