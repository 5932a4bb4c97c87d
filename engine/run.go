package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/looplab/fsm"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
)

// run is one event being handled against one session.
type run struct {
	e    *Engine
	fl   *flow.Flow
	sess *store.Session
	d    *sessionData
	ev   *Event
	now  time.Time
	env  *flow.Env

	twiml       []twilio.Verb
	instruction *twilio.Instruction
	ops         []outboxOp
	rec         record
	// implied are the history entries of events this one implies and
	// that ran before it (a participant's join, when its leave came
	// first): written before rec, in the same commit.
	implied   []record
	replyKind ReplyKind
	// aliased are the aliases the session had before this event: only new
	// ones are written.
	aliased []string
}

// record is the history entry one event leaves: what arrived, which guards
// were tried, the transition, every action and the reply — the execution
// log an admin reads when a call went wrong. One entry per event keeps the
// commit small.
type record struct {
	Event     string         `json:"event"`
	Source    Source         `json:"source"`
	Fields    map[string]any `json:"fields,omitempty"`
	Params    map[string]any `json:"params,omitempty"`
	Sequence  int64          `json:"sequence,omitempty"`
	Stale     string         `json:"stale,omitempty"`
	Guards    []guardRecord  `json:"guards,omitempty"`
	From      string         `json:"from,omitempty"`
	To        string         `json:"to,omitempty"`
	Internal  bool           `json:"internal,omitempty"`
	Line      int            `json:"line,omitempty"`
	Unhandled bool           `json:"unhandled,omitempty"`
	Actions   []actionRecord `json:"actions,omitempty"`
	Reply     string         `json:"reply,omitempty"`
	Warnings  []string       `json:"warnings,omitempty"`
}

type guardRecord struct {
	If     string `json:"if"`
	Line   int    `json:"line"`
	Result bool   `json:"result"`
	Error  string `json:"error,omitempty"`
}

type actionRecord struct {
	Action string `json:"action"`
	Where  string `json:"where"`
	Line   int    `json:"line"`
	Error  string `json:"error,omitempty"`
}

// kind names the history entry by what the event did.
func (rec *record) kind() string {
	switch {
	case rec.Stale != "":
		return "stale"
	case rec.Unhandled:
		return "unhandled"
	case rec.To != "" && !rec.Internal:
		return "transition"
	}
	return "event"
}

// outboxOp is an outbox item's payload: the REST call and why it was made.
type outboxOp struct {
	Op     twilio.Op `json:"op"`
	Action string    `json:"action"`
	Role   string    `json:"role,omitempty"`
	Seq    int       `json:"seq"`
	// Before is what flowd knew of the participant's mute and coaching
	// before a participant update that changes them (coach, barge,
	// listen…): if Twilio refuses the update for good, the facts go back
	// to it (failedActionFacts).
	Before *participantFlags `json:"before,omitempty"`
	// Failure, if set, is an action that could not even be asked for (a
	// template reading a participant who is not in the call, a role with
	// no leg): no request goes out; the dispatcher reports it to the flow
	// as action.failed in its turn, after the requests the same handler
	// queued before it (a hold), so the flow's recovery finds them done.
	Failure string `json:"failure,omitempty"`
}

// failureKind is the outbox kind of an item that only reports a Failure.
const failureKind = "action.failure"

// failureLane is the lane the failed action's requests would have taken,
// so its action.failed comes after the requests queued before it there.
func failureLane(action string) string {
	switch action {
	case "create_task", "update_task", "complete_task":
		return twilio.LaneTaskRouter
	}
	return twilio.LaneVoice
}

// participantFlags are the facts a participant update can change that an
// inversion cannot restore (coaching names whom; a whisper unmutes).
type participantFlags struct {
	Muted     bool   `json:"muted"`
	Coaching  bool   `json:"coaching"`
	CoachRole string `json:"coach_role,omitempty"`
}

func (r *run) warn(format string, args ...any) {
	r.rec.Warnings = append(r.rec.Warnings, fmt.Sprintf(format, args...))
}

func (r *run) initVars() {
	env := r.buildEnv()
	for _, name := range sortedKeys(r.fl.Vars) {
		v, err := r.fl.Vars[name].Value(env)
		if err != nil {
			r.rec.Actions = append(r.rec.Actions, actionRecord{Action: "vars", Where: name, Error: err.Error()})
			continue
		}
		r.d.Vars[name] = v
	}
}

// noParams stands for an event without parameters; expressions cannot
// write, so one empty map serves every run.
var noParams = map[string]any{}

func (r *run) buildEnv() *flow.Env {
	// The keys are flow.TaskFields (validate refuses any other).
	task := make(map[string]any, len(flow.TaskFields))
	task["sid"] = r.d.TaskSid
	if t := r.d.Tasks[r.d.TaskSid]; t != nil {
		task["attributes"] = t.Attributes
		task["status"] = t.status()
		task["queue_sid"] = t.QueueSid
		task["workflow_sid"] = t.WorkflowSid
		task["priority"] = t.Priority
		age := 0
		if !t.CreatedAt.IsZero() {
			age = int(r.now.Sub(t.CreatedAt) / time.Second)
		}
		task["age"] = age
		task["reservation_sid"] = t.Reservation
	}
	params := r.ev.Params
	if params == nil {
		params = noParams
	}
	// call and event are read straight from the facts and the event (no
	// copies: expressions cannot write).
	return &flow.Env{
		Call: r.d.Call, Task: task, Worker: r.d.Worker, Event: r.ev.Fields, Params: params,
		Participants: r.d.participants(), Vars: r.d.Vars, EnvVars: r.fl.EnvVars,
		Now: r.now, State: r.sess.State,
	}
}

// refusal says why a command has no transition to take: the call is over,
// the state has none for it, or the conditions it has do not hold (quoted
// from the flow, so a desktop developer sees "participants.supervisor?.joined"
// rather than guessing).
func refusal(final bool, ts []*flow.Transition) string {
	if final {
		return "the call is over"
	}
	var conds []string
	for _, t := range ts {
		if t.If != nil {
			conds = append(conds, strings.Join(strings.Fields(t.If.Source), " "))
		}
	}
	if len(conds) == 0 {
		return "no transition for it in this state"
	}
	return "its condition does not hold now: " + strings.Join(conds, "; nor ")
}

// closedTaskRefusal refuses a command sent through a task that is over
// (completed, canceled, deleted) while another task of the call is open:
// the desktop that sent it is the agent's before a transfer, and must not
// hold, transfer or hang up the caller the next agent now has. A task in
// wrap-up still sends commands (a flow may take its wrap-up through one).
// With no other task open (the call went to a person dialed by number) any
// task of the call still addresses it, as docs/commands.md promises; so do
// the CallSid and the conference, always. A final call answers "the call
// is over" instead.
func (r *run) closedTaskRefusal() error {
	if r.sess.Final {
		return nil
	}
	t := r.d.Tasks[r.ev.Session]
	if t == nil || t.open() || t.Status == "wrapping" || t.Status == "wrapup" {
		return nil
	}
	open := r.d.openTasks()
	if len(open) == 0 {
		return nil
	}
	return &TaskClosedError{Command: r.ev.Name, Task: r.ev.Session, Status: t.Status, Open: open, CallSid: r.d.CallSid}
}

// execute applies the event's facts, picks a transition and runs it. An
// event that implies an earlier one flowd has not seen (a participant's
// leave before its join: Twilio's callbacks have no order) runs that one
// first, so the flow sees what happened in the order it happened.
func (r *run) execute(ctx context.Context) error {
	if join := r.impliedJoin(); join != nil {
		ev := r.ev
		r.ev = join
		if err := r.executeOne(ctx); err != nil {
			return err
		}
		r.implied = append(r.implied, r.rec)
		r.rec, r.ev, r.env = record{}, ev, nil
	}
	return r.executeOne(ctx)
}

// impliedJoin is the participant.join a participant.leave implies when
// flowd has not seen that participant join: a leg leaves a conference
// only after joining it, and its join callback may come after its leave
// (it is then stale). Without it a flow waiting for the join (an agent
// answering, a consultee) never saw the leg that came and went: the
// caller stayed alone in the conference, or on hold, for good. nil when
// the leg joined already, never connected (Twilio's leave with reason
// participant_add_failed), or is one flowd knows left, removed or
// withdrew (those callbacks are recorded, not delivered).
func (r *run) impliedJoin() *Event {
	ev, d := r.ev, r.d
	if ev.Source != SourceConference || ev.Name != "participant.leave" || ev.CallSid == "" {
		return nil
	}
	if _, ok := d.Left[ev.CallSid]; ok {
		return nil
	}
	if _, ok := d.Removed[ev.CallSid]; ok {
		return nil
	}
	if reason, _ := ev.Fields["reason"].(string); reason == "participant_add_failed" {
		return nil // a leg that never connected: Twilio says so with a leave
	}
	label, _ := ev.Fields["label"].(string)
	if _, ok := d.Withdrawn[label]; ok && label != "" {
		return nil
	}
	if role := d.roleOfCall(ev.CallSid); role != "" {
		if p := d.Roles[role]; p == nil || p.Joined {
			return nil
		}
	}
	join := *ev
	join.Name = "participant.join"
	join.IdempotencyKey = ""
	if join.SequenceNumber > 0 {
		join.SequenceNumber-- // before the leave, whatever its own number
	}
	join.Fields = make(map[string]any, len(ev.Fields)+1)
	for k, v := range ev.Fields {
		if k != "reason" {
			join.Fields[k] = v
		}
	}
	join.Fields["implied"] = true
	return &join
}

// executeOne runs one event (execute's).
func (r *run) executeOne(ctx context.Context) error {
	ev := r.ev
	r.replyKind = ReplyEmpty
	switch ev.Source {
	case SourceVoice:
		r.replyKind = ReplyTwiML
	case SourceAssignment:
		r.replyKind = ReplyInstruction
	case SourceCommand:
		r.replyKind = ReplyState
	}
	stale := r.applyFacts()
	if r.sess.Final && ev.TaskSid != "" {
		// A transfer's task whose create was on its way when the call
		// ended: now that its SID is known, close it (nothing else will).
		r.closeLinkedTasks()
	}
	r.rec.Event, r.rec.Source, r.rec.Fields, r.rec.Params, r.rec.Sequence = ev.Name, ev.Source, ev.Fields, ev.Params, ev.SequenceNumber
	r.rec.From = r.sess.State
	if stale != "" {
		r.rec.Stale = stale
		return nil
	}
	isNew := r.sess.Version == 0
	if isNew {
		// A new session enters its initial state.
		r.runActions(r.fl.States[r.fl.Initial].Entry, "entry:"+r.fl.Initial)
	}
	state := r.fl.States[r.sess.State]
	if state == nil {
		return fmt.Errorf("session %s is in state %q, which flow %s (revision %.12s) does not have", r.sess.ID, r.sess.State, r.fl.Name, r.fl.Revision)
	}

	var cmd *flow.Command
	if ev.Source == SourceCommand {
		cmd = r.fl.Commands[ev.Name]
		if cmd == nil {
			return &UnknownCommandError{Command: ev.Name, Flow: r.fl.Name}
		}
		if err := checkParams(cmd, ev.Params); err != nil {
			return err
		}
		if err := r.closedTaskRefusal(); err != nil {
			return err
		}
	}

	ts := r.fl.Handlers(state, ev.Name)
	env := r.buildEnv()
	r.env = env
	chosen := -1
	for i, t := range ts {
		ok, err := t.If.Bool(env)
		if t.If != nil {
			g := guardRecord{If: t.If.Source, Line: t.Pos.Line, Result: ok}
			if err != nil {
				g.Error = err.Error()
			}
			r.rec.Guards = append(r.rec.Guards, g)
		}
		if ok {
			chosen = i
			break
		}
	}
	if chosen < 0 {
		if cmd != nil {
			return &CommandError{Command: ev.Name, State: r.sess.State, Allowed: r.allowedCommands(state), Reason: refusal(r.sess.Final, ts)}
		}
		// The event that started the call was handled by the initial
		// state's entry actions (say, enqueue): that is not "unhandled".
		r.rec.Unhandled = !isNew
		return nil
	}
	return r.fire(ctx, state, ts, chosen)
}

// fire runs transition ts[i] out of state through a looplab/fsm machine
// holding just this state's transitions.
func (r *run) fire(ctx context.Context, state *flow.State, ts []*flow.Transition, i int) error {
	t := ts[i]
	from := state.Name
	if t.To == "" {
		r.rec.To, r.rec.Internal, r.rec.Line = from, true, t.Pos.Line
		r.runActions(t.Do, "do")
		return nil
	}
	r.rec.To, r.rec.Line = t.To, t.Pos.Line
	if t.To == from {
		// A self-transition is external: exit and entry run (looplab/fsm
		// would refuse it as "no transition").
		r.runActions(state.Exit, "exit:"+from)
		r.runActions(t.Do, "do")
		r.runActions(state.Entry, "entry:"+from)
		return nil
	}
	m := r.e.machine(state, t)
	m.SetState(from)
	if err := m.Event(ctx, machineEvent, r); err != nil {
		var nt fsm.NoTransitionError
		if !errors.As(err, &nt) {
			return fmt.Errorf("state machine: %w", err) // the machine is not reused
		}
	}
	r.sess.State = m.Current()
	// Back to the pool only after a clean run: a panicking action leaves
	// the machine mid-transition, and it is dropped.
	r.e.releaseMachine(state, t, m)
	if dst := r.fl.States[t.To]; dst != nil && dst.Final && !r.sess.Final {
		r.sess.Final = true
		r.closeLinkedTasks()
	}
	return nil
}

// allowedCommands lists the declared commands the state (or the flow) has
// handlers for and whose guards could hold with no parameters checked.
func (r *run) allowedCommands(state *flow.State) []string {
	out := []string{} // [] rather than null in JSON: nothing is allowed now
	for _, name := range sortedKeys(r.fl.Commands) {
		ts := r.fl.Handlers(state, name)
		if len(ts) == 0 {
			continue
		}
		for _, t := range ts {
			if t.If == nil || !strings.Contains(t.If.Source, "params.") {
				if ok, _ := t.If.Bool(r.env); !ok {
					continue
				}
			}
			out = append(out, name)
			break
		}
	}
	return out
}

// commit saves the run and builds the reply.
func (r *run) commit(ctx context.Context) (Reply, error) {
	reply := Reply{Kind: r.replyKind, Session: r.sess.ID}
	switch r.replyKind {
	case ReplyTwiML:
		doc, err := twilio.RenderTwiML(r.twiml...)
		if err != nil {
			return Reply{}, fmt.Errorf("render TwiML: %w", err)
		}
		reply.Body = []byte(doc)
	case ReplyInstruction:
		if r.instruction != nil {
			b, err := r.instruction.JSON()
			if err != nil {
				return Reply{}, fmt.Errorf("instruction: %w", err)
			}
			reply.Body = b
		} else {
			// A bare 200 tells TaskRouter the answer comes later by REST.
			reply.Kind = ReplyEmpty
		}
	}
	reply.State = r.sess.State
	if r.replyKind == ReplyState {
		b, err := json.Marshal(r.view())
		if err != nil {
			return Reply{}, err
		}
		reply.Body = b
	}
	if len(reply.Body) > 0 && reply.Kind != ReplyState {
		r.rec.Reply = string(reply.Body)
	}
	// One pooled buffer holds the history entry, the session's facts and
	// the stored reply: the store copies or writes what it keeps before
	// Commit returns (store.Commit's contract), so the buffer goes back to
	// the pool after it. Fresh memory for these kilobytes, every event, was
	// a noticeable part of Handle (allocation, zeroing, cold cache lines).
	bp := commitBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledCommitBuffer {
			commitBuffers.Put(bp)
		}
	}()
	buf, err := r.rec.appendJSON((*bp)[:0])
	if err != nil {
		return Reply{}, err
	}
	hist := buf[:len(buf):len(buf)]
	buf, err = r.d.appendJSON(buf)
	if err != nil {
		return Reply{}, err
	}
	data := buf[len(hist):len(buf):len(buf)]
	r.sess.UpdatedAt = r.now
	sess := *r.sess
	sess.Data = data
	c := store.Commit{Session: sess, IdempotencyKey: r.ev.IdempotencyKey,
		History: []store.HistoryEntry{{At: r.now, Kind: r.rec.kind(), Data: hist}}}
	if len(r.implied) > 0 {
		var pre []store.HistoryEntry
		for i := range r.implied {
			b, err := r.implied[i].appendJSON(nil)
			if err != nil {
				return Reply{}, err
			}
			pre = append(pre, store.HistoryEntry{At: r.now, Kind: r.implied[i].kind(), Data: b})
		}
		c.History = append(pre, c.History...)
	}
	c.Aliases = r.aliasList()
	for _, op := range r.ops {
		b, err := json.Marshal(op)
		if err != nil {
			return Reply{}, err
		}
		kind, lane := string(op.Op.Kind), op.Op.Kind.Lane()
		if op.Failure != "" {
			kind, lane = failureKind, failureLane(op.Action)
		}
		// The engine's clock, not the store's, decides when work is due.
		c.Outbox = append(c.Outbox, store.OutboxItem{Kind: kind, Lane: lane, Payload: b,
			NextAttempt: r.now, CreatedAt: r.now})
	}
	if c.IdempotencyKey != "" {
		start := len(buf)
		reply.Request = r.ev.Request
		buf = reply.appendJSON(buf)
		c.Reply = buf[start:len(buf):len(buf)]
	}
	*bp = buf
	version, err := r.e.cfg.Store.Commit(ctx, c)
	if err != nil {
		return Reply{}, err
	}
	r.e.keep(r.sess.ID, version, r.d, r.sess.Final)
	if len(c.Outbox) > 0 {
		r.e.signal() // wake the dispatcher: there is work
	}
	// Counted once saved: a redelivered event that ran again and was
	// refused as a duplicate at commit counts nothing.
	switch {
	case r.rec.Stale != "":
		r.e.stats.Stale.Add(1)
	case r.rec.Unhandled:
		r.e.stats.Unhandled.Add(1)
	case r.rec.To != "" && !r.rec.Internal:
		r.e.stats.Transitions.Add(1)
	}
	return reply, nil
}

// commitBuffers pools the buffer each commit encodes its documents into.
var commitBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledCommitBuffer keeps an unusually large session's buffer out of
// the pool, so that one call cannot pin megabytes for good.
const maxPooledCommitBuffer = 64 << 10

// aliasList returns the session's keys (CallSid, TaskSids, conference SID
// and name) that were not aliases before this event. A session has a
// handful, so slices beat maps here.
func (r *run) aliasList() []string {
	var out []string
	add := func(s string) {
		if s != "" && s != r.sess.ID && !slices.Contains(out, s) && !slices.Contains(r.aliased, s) {
			out = append(out, s)
		}
	}
	add(r.d.CallSid)
	add(r.d.TaskSid)
	for _, sid := range sortedKeys(r.d.Tasks) {
		add(sid)
	}
	add(r.d.ConferenceSid)
	add(r.d.ConferenceName)
	return out
}

// checkParams validates a command's JSON parameters against its declaration.
func checkParams(cmd *flow.Command, params map[string]any) error {
	for name := range params {
		if _, ok := cmd.Params[name]; !ok {
			reason := "unknown parameter (declared: " + strings.Join(sortedKeys(cmd.Params), ", ") + ")"
			if len(cmd.Params) == 0 {
				reason = "unknown parameter (the command takes none)"
			}
			return &ParamError{Command: cmd.Name, Param: name, Reason: reason}
		}
	}
	for _, name := range sortedKeys(cmd.Params) {
		p := cmd.Params[name]
		v, ok := params[name]
		if !ok || v == nil {
			if p.Required {
				return &ParamError{Command: cmd.Name, Param: name, Reason: "required"}
			}
			continue
		}
		switch p.Type {
		case "", "string":
			s, ok := v.(string)
			if !ok {
				return &ParamError{Command: cmd.Name, Param: name, Reason: "must be a string, got " + jsonTypeOf(v)}
			}
			if len(p.Enum) > 0 && !contains(p.Enum, s) {
				return &ParamError{Command: cmd.Name, Param: name, Reason: fmt.Sprintf("must be one of %s, got %q", strings.Join(p.Enum, ", "), s)}
			}
			if p.Pattern != "" && !matchPattern(p.Pattern, s) {
				return &ParamError{Command: cmd.Name, Param: name, Reason: fmt.Sprintf("%q does not match %s", s, p.Pattern)}
			}
		case "number":
			if _, ok := v.(float64); !ok {
				return &ParamError{Command: cmd.Name, Param: name, Reason: "must be a number, got " + jsonTypeOf(v)}
			}
		case "boolean":
			if _, ok := v.(bool); !ok {
				return &ParamError{Command: cmd.Name, Param: name, Reason: "must be true or false, got " + jsonTypeOf(v)}
			}
		}
	}
	if len(cmd.OneOf) > 0 {
		var given []string
		for _, name := range cmd.OneOf {
			// An empty string names nothing: a transfer to queue "" is
			// no transfer target.
			if v := params[name]; v != nil && v != "" {
				given = append(given, name)
			}
		}
		if len(given) != 1 {
			reason := "give exactly one of " + strings.Join(cmd.OneOf, ", ")
			if len(given) == 0 {
				return &ParamError{Command: cmd.Name, Reason: reason + "; none was given"}
			}
			return &ParamError{Command: cmd.Name, Param: given[1], Reason: reason + "; " + strings.Join(given, " and ") + " were given"}
		}
	}
	return nil
}

// jsonTypeOf names a decoded JSON value's type as a client wrote it.
func jsonTypeOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// machineEvent is the one event a transition's machine knows.
const machineEvent = "fire"

// machineKey names a transition out of a state (a flow-level handler is
// taken out of every state).
type machineKey struct {
	from *flow.State
	t    *flow.Transition
}

// machine returns a looplab/fsm machine holding just transition t out of
// state, at any state: the caller sets the stored state before firing it.
// Machines are pooled per transition (building one is several maps and
// closures, a tenth of an event's cost); the run travels in the event's
// arguments, so a machine serves one event at a time and any session.
func (e *Engine) machine(state *flow.State, t *flow.Transition) *fsm.FSM {
	k := machineKey{state, t}
	if p, ok := e.machines.Load(k); ok {
		if m, ok := p.(*sync.Pool).Get().(*fsm.FSM); ok {
			return m
		}
	}
	from := state.Name
	exitLabel, entryLabel := "exit:"+from, "entry:"+t.To // history labels, built once per machine
	return fsm.NewFSM(from, []fsm.EventDesc{{Name: machineEvent, Src: []string{from}, Dst: t.To}}, fsm.Callbacks{
		"leave_state": func(_ context.Context, ev *fsm.Event) {
			r := ev.Args[0].(*run)
			r.runActions(state.Exit, exitLabel)
			r.runActions(t.Do, "do")
		},
		"enter_state": func(_ context.Context, ev *fsm.Event) {
			r := ev.Args[0].(*run)
			r.sess.State = ev.Dst
			if dst := r.fl.States[ev.Dst]; dst != nil {
				r.runActions(dst.Entry, entryLabel)
			}
		},
	})
}

func (e *Engine) releaseMachine(state *flow.State, t *flow.Transition, m *fsm.FSM) {
	k := machineKey{state, t}
	p, ok := e.machines.Load(k)
	if !ok {
		p, _ = e.machines.LoadOrStore(k, &sync.Pool{})
	}
	p.(*sync.Pool).Put(m)
}
