package engine

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	api "github.com/twilio/twilio-go/rest/api/v2010"
	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/twilio"
)

// Routes flowd hands Twilio as callback URLs (the server serves them).
const (
	PathVoice            = "/twilio/voice"
	PathGather           = "/twilio/voice/gather"
	PathCallStatus       = "/twilio/voice/status"
	PathAssignment       = "/twilio/taskrouter/assignment"
	PathWorkspaceEvents  = "/twilio/taskrouter/events"
	PathConferenceStatus = "/twilio/conference/status"
	PathTwiMLJoin        = "/twilio/twiml/join"
	PathTwiMLAnnounce    = "/twilio/twiml/announce"
)

// conferenceEvents are the conference callbacks flowd subscribes to.
var conferenceEvents = []string{"start", "end", "join", "leave", "mute", "hold", "modify", "announcement"}

// instructionConferenceEvents: the conference instruction documents fewer.
var instructionConferenceEvents = twilio.EventList{"start", "end", "join", "leave", "mute", "hold"}

func (r *run) runActions(list []*flow.Action, where string) {
	for _, a := range list {
		if err := r.runAction(a); err != nil {
			msg := readableActionError(err)
			r.rec.Actions = append(r.rec.Actions, actionRecord{Action: a.Kind, Where: where, Line: a.Pos.Line, Error: msg})
			// The flow hears of it as of a request Twilio refused: its
			// action.failed handler takes the caller off a hold queued
			// just before. Not while handling action.failed itself, whose
			// recovery failing again would loop.
			if r.ev.Name != "action.failed" {
				r.d.OpSeq++
				r.ops = append(r.ops, outboxOp{Action: a.Kind, Role: actionRole(a), Seq: r.d.OpSeq, Failure: fmt.Sprintf("line %d: %s", a.Pos.Line, msg)})
			}
			continue
		}
		r.rec.Actions = append(r.rec.Actions, actionRecord{Action: a.Kind, Where: where, Line: a.Pos.Line})
	}
}

// actionRole is the role an action names (its role, or a coach's who), for
// event.role of the action.failed it may cause; "" for none. Reflection,
// on the error path only: every action's parameters call it Role.
func actionRole(a *flow.Action) string {
	v := reflect.ValueOf(a.Params)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	for _, name := range []string{"Role", "Who"} {
		if f := v.FieldByName(name); f.IsValid() && f.Kind() == reflect.String {
			return f.String()
		}
	}
	return ""
}

// readableActionError says in a flow author's words what expr reports in
// reflect's: a field read of a participant who is not in the call.
func readableActionError(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "reflect: call of reflect.Value.Field on zero Value") {
		return "reads a field of a participant who is not in the call (write participants.ROLE?.FIELD, or guard with participants.ROLE != nil): " + msg
	}
	return msg
}

func (r *run) str(t *flow.Template) (string, error) {
	if t == nil {
		return "", nil
	}
	return t.String(r.environment())
}

// environment is what templates and expressions read, built on first use:
// the initial state's entry actions run before the event's handlers, and
// need it as much as they do.
func (r *run) environment() *flow.Env {
	if r.env == nil {
		r.env = r.buildEnv()
	}
	return r.env
}

// refreshEnv re-reads the facts actions change (roles, vars, state) so
// later templates in the same list see them.
func (r *run) refreshEnv() {
	if r.env == nil {
		r.env = r.buildEnv()
		return
	}
	r.env.Participants = r.d.participants()
	r.env.Vars = r.d.Vars
	r.env.State = r.sess.State
}

func (r *run) addOp(action, role string, op twilio.Op) {
	r.d.OpSeq++
	r.ops = append(r.ops, outboxOp{Op: op, Action: action, Role: role, Seq: r.d.OpSeq})
}

// endCall hangs up one call (Calls resource, Status=completed: ringing or
// in progress).
func (r *run) endCall(action, role, callSid string) {
	r.addOp(action, role, twilio.Op{Kind: twilio.OpUpdateCall, CallSid: callSid, UpdateCall: &api.UpdateCallParams{Status: ptr("completed")}})
}

func (r *run) sessionQuery(role string) url.Values {
	q := url.Values{"session": {r.sess.ID}}
	if role != "" {
		q.Set("role", role)
	}
	return q
}

// legQuery is sessionQuery for a leg flowd dials, with its label: the
// role in it is the one the leg was dialed as, the label finds the role it
// has now.
func (r *run) legQuery(role, label string) url.Values {
	q := r.sessionQuery(role)
	q.Set("label", label)
	return q
}

// newLabel names a leg flowd is about to dial. Twilio refuses a label
// already in the conference (16026), and a leg keeps its label when a
// transfer hands it another role, so each dial gets its own: the role and
// the session's version, unique since an event dials a role at most once.
func (r *run) newLabel(role string) string {
	return role + "-" + strconv.FormatInt(r.sess.Version+1, 10)
}

// participantRef names a role's participant in a REST path: its call SID,
// else the label flowd gave it when dialing.
func (r *run) participantRef(role string) (string, error) {
	p := r.d.Roles[role]
	if p != nil && p.CallSid != "" {
		return p.CallSid, nil
	}
	if p != nil && p.Label != "" {
		return p.Label, nil
	}
	return "", fmt.Errorf("role %s is not in the call", role)
}

func (r *run) needConference() (string, error) {
	if c := r.d.conference(); c != "" {
		return c, nil
	}
	return "", fmt.Errorf("no conference yet")
}

func (r *run) fromNumber(t *flow.Template) (string, error) {
	if t != nil {
		return r.str(t)
	}
	if r.fl.CallerID != nil {
		return r.str(r.fl.CallerID)
	}
	to, _ := r.d.Call["to"].(string)
	return to, nil
}

func (r *run) workspace() (string, error) {
	ws, err := r.str(r.fl.TaskRouter.Workspace)
	if err != nil {
		return "", err
	}
	if ws == "" {
		return "", fmt.Errorf("taskrouter.workspace is not set")
	}
	return ws, nil
}

// workflow renders an action's workflow, defaulting to the flow's.
func (r *run) workflow(t *flow.Template) (string, error) {
	if t == nil {
		t = r.fl.TaskRouter.Workflow
	}
	return r.str(t)
}

func ptr[T any](v T) *T { return &v }

// audioMethod is the method for fetching music at u: GET for an audio
// file, which Twilio can then cache (and static hosts often refuse POST,
// Twilio's default for wait URLs); "" (the default) for TwiML.
func audioMethod(u string) string {
	path := u
	if parsed, err := url.Parse(u); err == nil {
		path = parsed.Path
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mp3", ".wav", ".aiff", ".aif", ".gsm", ".ulaw":
		return "GET"
	}
	return ""
}

func (r *run) runAction(a *flow.Action) error {
	switch p := a.Params.(type) {
	case *flow.SayAction:
		text, err := r.str(p.Text)
		if err != nil {
			return err
		}
		return r.addVerb(a, twilio.Say{Text: text, Voice: p.Voice, Language: p.Language, Loop: p.Loop})
	case *flow.PlayAction:
		u, err := r.str(p.URL)
		if err != nil {
			return err
		}
		return r.addVerb(a, twilio.Play{URL: u, Loop: p.Loop})
	case *flow.PauseAction:
		n := p.Seconds
		if n == 0 {
			n = 1
		}
		return r.addVerb(a, twilio.Pause{Length: n})
	case *flow.GatherAction:
		return r.gather(a, p)
	case *flow.EnqueueAction:
		return r.enqueue(a, p)
	case *flow.ConferenceAction:
		return r.conferenceInstruction(a, p)
	case *flow.AcceptAction:
		return r.answerReservation(a, twilio.Instruction{Instruction: "accept"})
	case *flow.RejectAction:
		act, err := r.str(p.Activity)
		if err != nil {
			return err
		}
		return r.answerReservation(a, twilio.Instruction{Instruction: "reject", ActivitySid: act})
	case *flow.CallAction:
		return r.callInstruction(a, p)
	case *flow.RedirectAction:
		return r.redirect(a, p)
	case *flow.HoldAction:
		return r.hold(a, p)
	case *flow.RoleAction:
		return r.roleAction(a, p.Role)
	case *flow.DialAction:
		return r.dial(a, p)
	case *flow.CoachAction:
		return r.coach(a, p)
	case *flow.AnnounceAction:
		return r.announce(a, p)
	case *flow.CreateTaskAction:
		return r.createTask(a, p)
	case *flow.UpdateTaskAction:
		return r.updateTask(a, p)
	case *flow.CompleteTaskAction:
		return r.completeTask(a, p)
	case *flow.HandoverAction:
		from := r.d.Roles[p.From]
		if from == nil {
			return fmt.Errorf("role %s is not in the call", p.From)
		}
		r.d.Roles[p.To] = from
		delete(r.d.Roles, p.From)
		// The task that brought the leg goes with it: once the leg leaves,
		// complete_task of the new role must still find that task (and
		// free its worker), not the call's first one.
		if t := r.d.Tasks[from.TaskSid]; t != nil && t.Role == p.From {
			t.Role = p.To
		}
		r.recoach(a.Kind, p.To)
		r.refreshEnv()
		return nil
	case *flow.SetAction:
		for _, name := range p.Order {
			v, err := p.Values[name].Value(r.environment())
			if err != nil {
				return fmt.Errorf("set %s: %w", name, err)
			}
			r.d.Vars[name] = v
		}
		r.refreshEnv()
		return nil
	case *flow.HangupAction:
		return r.hangup(a, p)
	}
	return fmt.Errorf("action %s is not implemented", a.Kind)
}

func (r *run) addVerb(a *flow.Action, v twilio.Verb) error {
	if r.ev.Source != SourceVoice {
		return fmt.Errorf("%s needs a TwiML reply, but %s is answered without one", a.Kind, r.ev.Name)
	}
	r.twiml = append(r.twiml, v)
	return nil
}

func (r *run) gather(a *flow.Action, p *flow.GatherAction) error {
	// actionOnEmptyResult: the flow always gets call.gather (digits empty
	// on a timeout), so one handler decides what silence means.
	g := twilio.Gather{Action: r.e.callbackURL(PathGather, r.sessionQuery("")), Method: "POST", Input: p.Input, ActionOnEmptyResult: true,
		FinishOnKey: p.FinishOnKey, NumDigits: p.NumDigits, Timeout: p.Timeout}
	if p.Say != nil {
		text, err := r.str(p.Say)
		if err != nil {
			return err
		}
		g.Prompt = append(g.Prompt, twilio.Say{Text: text})
	}
	if p.Play != nil {
		u, err := r.str(p.Play)
		if err != nil {
			return err
		}
		g.Prompt = append(g.Prompt, twilio.Play{URL: u})
	}
	return r.addVerb(a, g)
}

func (r *run) renderAttributes(attrs map[string]*flow.Template) (map[string]any, error) {
	out := make(map[string]any, len(attrs)+4)
	for _, k := range sortedKeys(attrs) {
		v, err := attrs[k].Value(r.environment())
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

func (r *run) enqueue(a *flow.Action, p *flow.EnqueueAction) error {
	workflow, err := r.workflow(p.Workflow)
	if err != nil {
		return err
	}
	if workflow == "" {
		return fmt.Errorf("no workflow: set enqueue.workflow or taskrouter.workflow")
	}
	attrs, err := r.renderAttributes(p.Attributes)
	if err != nil {
		return err
	}
	// flowd_session lets every later TaskRouter callback find this call
	// even before TaskRouter's own call_sid attribute is seen.
	attrs["flowd_session"] = r.sess.ID
	b, err := json.Marshal(attrs)
	if err != nil {
		return err
	}
	wait, err := r.str(p.WaitMusic)
	if err != nil {
		return err
	}
	return r.addVerb(a, twilio.Enqueue{WorkflowSid: workflow, TaskAttributes: string(b), Priority: p.Priority, Timeout: p.Timeout,
		WaitURL: wait, WaitURLMethod: audioMethod(wait)})
}

// answerReservation answers the pending reservation: in the assignment
// callback's reply when handling one, else by a REST reservation update.
func (r *run) answerReservation(a *flow.Action, in twilio.Instruction) error {
	taskSid, resSid := r.ev.TaskSid, r.ev.ReservationSid
	if r.ev.Source == SourceAssignment && r.instruction == nil {
		r.instruction = &in
	} else {
		if t := r.d.Tasks[taskSid]; t == nil || !t.ReservationPending || t.Reservation != resSid || resSid == "" {
			taskSid, resSid = r.d.pendingReservation(taskSid)
		}
		if resSid == "" {
			return fmt.Errorf("no reservation is waiting for an answer")
		}
		ws, err := r.workspace()
		if err != nil {
			return err
		}
		r.addOp(a.Kind, "", twilio.Op{Kind: twilio.OpUpdateReservation, WorkspaceSid: ws, TaskSid: taskSid, ReservationSid: resSid, UpdateReservation: in.ReservationParams()})
	}
	if t := r.d.Tasks[taskSid]; t != nil {
		t.ReservationPending = false
	}
	return nil
}

func (r *run) conferenceInstruction(a *flow.Action, p *flow.ConferenceAction) error {
	if t := r.d.Tasks[r.ev.TaskSid]; t != nil && t.Linked {
		// TaskRouter refuses it for a task that no <Enqueue> holds a
		// call for (TWILIO.md): say so here rather than let the
		// reservation time out.
		return fmt.Errorf("conference: the conference instruction works only for a task created by <Enqueue>; answer a transfer's task with `call`")
	}
	in := twilio.Instruction{Instruction: "conference",
		ConferenceStatusCallback:      r.e.callbackURL(PathConferenceStatus, r.sessionQuery("")),
		ConferenceStatusCallbackEvent: instructionConferenceEvents,
		EndConferenceOnCustomerExit:   ptr(true),
		EndConferenceOnExit:           ptr(false),
		Timeout:                       p.Timeout, MaxParticipants: p.MaxParticipants, Beep: p.Beep,
		EarlyMedia: p.EarlyMedia,
	}
	if p.EndOnCustomerExit != nil {
		in.EndConferenceOnCustomerExit = p.EndOnCustomerExit
	}
	if p.EndOnExit != nil {
		in.EndConferenceOnExit = p.EndOnExit
	}
	if p.Record {
		in.Record = "true"
	}
	var err error
	if in.From, err = r.str(p.From); err != nil {
		return err
	}
	if in.To, err = r.str(p.To); err != nil {
		return err
	}
	if in.WaitURL, err = r.str(p.WaitMusic); err != nil {
		return err
	}
	in.WaitMethod = audioMethod(in.WaitURL)
	pwa := p.PostWorkActivity
	if pwa == nil {
		pwa = r.fl.TaskRouter.PostWorkActivity
	}
	if in.PostWorkActivitySid, err = r.str(pwa); err != nil {
		return err
	}
	// TaskRouter names the conference after the TaskSid.
	if r.d.ConferenceName == "" {
		r.d.ConferenceName = r.ev.TaskSid
	}
	if ag := r.d.role(flow.RoleAgent); ag.TaskSid == "" {
		ag.TaskSid = r.ev.TaskSid
	}
	return r.answerReservation(a, in)
}

func (r *run) callInstruction(a *flow.Action, p *flow.CallAction) error {
	role := p.Role
	if role == "" {
		role, _ = r.ev.Fields["role"].(string)
	}
	if role == "" {
		role = flow.RoleAgent
	}
	to, err := r.str(p.To)
	if err != nil {
		return err
	}
	if to == "" {
		to, _ = r.d.Worker["contact_uri"].(string)
	}
	if to == "" {
		return fmt.Errorf("call: no `to` and the worker has no contact_uri attribute")
	}
	from, err := r.fromNumber(p.From)
	if err != nil {
		return err
	}
	whisper, err := r.str(p.Whisper)
	if err != nil {
		return err
	}
	if r.d.ConferenceName == "" {
		// Named after the call's task; a call never enqueued (its only
		// task is one create_task made) takes the reserved task's SID, or
		// the worker's join TwiML named no conference at all.
		r.d.ConferenceName = cmp.Or(r.d.TaskSid, r.ev.TaskSid)
	}
	if r.d.ConferenceName == "" {
		return fmt.Errorf("call: the call has no conference and no task to name one after")
	}
	if r.d.Whisper == nil {
		r.d.Whisper = map[string]string{}
	}
	if r.d.JoinMuted == nil {
		r.d.JoinMuted = map[string]bool{}
	}
	r.d.Whisper[role] = whisper
	r.d.JoinMuted[role] = p.Muted
	pf := r.d.role(role)
	pf.Label = r.newLabel(role)
	pf.Address = to
	pf.Called = true
	if r.ev.TaskSid != "" {
		pf.TaskSid = r.ev.TaskSid
		// accept: the instruction accepts the reservation, so the task is
		// assigned from now on, whether or not the worker's phone answers.
		r.d.task(r.ev.TaskSid).Assigned = true
	}
	in := twilio.Instruction{Instruction: "call", URL: r.e.callbackURL(PathTwiMLJoin, r.legQuery(role, pf.Label)), Accept: ptr(true),
		To: to, From: from, Timeout: p.Timeout,
		StatusCallbackURL: r.e.callbackURL(PathCallStatus, r.legQuery(role, pf.Label))}
	if p.Record {
		// CallRecord takes the <Dial record> values, not a boolean.
		in.Record = "record-from-answer"
	}
	return r.answerReservation(a, in)
}

func (r *run) redirect(a *flow.Action, p *flow.RedirectAction) error {
	callSid := ""
	if p.Role == flow.RoleCustomer {
		callSid = r.d.CallSid
	}
	if pf := r.d.Roles[p.Role]; pf != nil && pf.CallSid != "" {
		callSid = pf.CallSid
	}
	if callSid == "" {
		return fmt.Errorf("role %s has no call to redirect", p.Role)
	}
	u, err := r.str(p.URL)
	if err != nil {
		return err
	}
	if u == "" {
		u = r.e.callbackURL(PathTwiMLJoin, r.sessionQuery(p.Role))
		if r.d.ConferenceName == "" {
			r.d.ConferenceName = r.d.TaskSid
		}
	}
	r.addOp(a.Kind, p.Role, twilio.Op{Kind: twilio.OpUpdateCall, CallSid: callSid, UpdateCall: &api.UpdateCallParams{Url: &u, Method: ptr("POST")}})
	return nil
}

func (r *run) updateParticipant(a *flow.Action, role string, params *api.UpdateParticipantParams) error {
	conf, err := r.needConference()
	if err != nil {
		return err
	}
	ref, err := r.participantRef(role)
	if err != nil {
		return err
	}
	r.addOp(a.Kind, role, twilio.Op{Kind: twilio.OpUpdateParticipant, ConferenceSid: conf, Participant: ref, UpdateParticipant: params})
	if p := r.d.Roles[role]; p != nil && params.Coaching != nil {
		r.ops[len(r.ops)-1].Before = &participantFlags{Muted: p.Muted, Coaching: p.Coaching, CoachRole: p.CoachRole}
	}
	return nil
}

func (r *run) hold(a *flow.Action, p *flow.HoldAction) error {
	music := p.Music
	if music == nil {
		music = r.fl.HoldMusic
	}
	u, err := r.str(music)
	if err != nil {
		return err
	}
	params := &api.UpdateParticipantParams{Hold: ptr(true)}
	if u != "" {
		params.HoldUrl = &u
		params.HoldMethod = ptr("GET")
	}
	if err := r.updateParticipant(a, p.Role, params); err != nil {
		return err
	}
	// Assume the hold takes effect; the participant-hold callback confirms.
	r.d.Roles[p.Role].Hold = true
	r.refreshEnv()
	return nil
}

func (r *run) roleAction(a *flow.Action, role string) error {
	var params *api.UpdateParticipantParams
	switch a.Kind {
	case "unhold":
		params = &api.UpdateParticipantParams{Hold: ptr(false)}
	case "mute":
		params = &api.UpdateParticipantParams{Muted: ptr(true)}
	case "unmute":
		params = &api.UpdateParticipantParams{Muted: ptr(false)}
	case "barge":
		params = &api.UpdateParticipantParams{Muted: ptr(false), Coaching: ptr(false)}
	case "listen":
		params = &api.UpdateParticipantParams{Muted: ptr(true), Coaching: ptr(false)}
	case "remove":
		if r.withdrawCalledLeg(a.Kind, role) {
			return nil
		}
		conf, err := r.needConference()
		if err != nil {
			return err
		}
		ref, err := r.participantRef(role)
		if err != nil {
			return err
		}
		r.addOp(a.Kind, role, twilio.Op{Kind: twilio.OpDeleteParticipant, ConferenceSid: conf, Participant: ref})
		r.d.dropRole(role)
		r.refreshEnv()
		return nil
	default:
		return fmt.Errorf("action %s is not implemented", a.Kind)
	}
	if err := r.updateParticipant(a, role, params); err != nil {
		return err
	}
	p := r.d.Roles[role]
	if params.Hold != nil {
		p.Hold = *params.Hold
	}
	if params.Muted != nil {
		p.Muted = *params.Muted
	}
	if params.Coaching != nil {
		p.Coaching = *params.Coaching
	}
	r.refreshEnv()
	return nil
}

func (r *run) dial(a *flow.Action, p *flow.DialAction) error {
	conf, err := r.needConference()
	if err != nil {
		return err
	}
	if pf := r.d.Roles[p.Role]; pf != nil && (pf.CallSid != "" || pf.Label != "") {
		return fmt.Errorf("role %s is already in the call", p.Role)
	}
	to, err := r.str(p.To)
	if err != nil {
		return err
	}
	if to == "" {
		return fmt.Errorf("dial: empty `to`")
	}
	from, err := r.fromNumber(p.From)
	if err != nil {
		return err
	}
	label := r.newLabel(p.Role)
	cp := &api.CreateParticipantParams{
		From: &from, To: &to, Label: &label,
		EndConferenceOnExit: ptr(false), StartConferenceOnEnter: ptr(true),
		StatusCallback:                ptr(r.e.callbackURL(PathCallStatus, r.legQuery(p.Role, label))),
		StatusCallbackEvent:           &[]string{"initiated", "ringing", "answered", "completed"},
		ConferenceStatusCallback:      ptr(r.e.callbackURL(PathConferenceStatus, r.sessionQuery(""))),
		ConferenceStatusCallbackEvent: &conferenceEvents,
		EarlyMedia:                    p.EarlyMedia,
	}
	if p.Muted {
		// A leg that joins muted listens unannounced (a supervisor's
		// monitor): Twilio beeps on join and leave unless told not to.
		cp.Muted, cp.Beep = ptr(true), ptr("false")
	}
	if p.Timeout > 0 {
		cp.Timeout = ptr(p.Timeout)
	}
	r.addOp(a.Kind, p.Role, twilio.Op{Kind: twilio.OpCreateParticipant, ConferenceSid: conf, CreateParticipant: cp})
	pf := r.d.role(p.Role)
	pf.Label, pf.Address, pf.Muted = label, to, p.Muted
	r.refreshEnv()
	return nil
}

// withdrawCalledLeg ends a leg TaskRouter's call instruction is ringing
// and that has not joined the conference: it is no participant yet, so
// Twilio's Participants resource does not know it (404) and only its call
// can be ended. Without its call SID yet, the leg is remembered as
// withdrawn: hung up when a status callback names it, refused if it
// answers first. It reports whether role was such a leg.
func (r *run) withdrawCalledLeg(action, role string) bool {
	p := r.d.Roles[role]
	if p == nil || !p.Called || p.Joined {
		return false
	}
	if p.CallSid != "" {
		r.endCall(action, role, p.CallSid)
	} else if p.Label != "" {
		if r.d.Withdrawn == nil {
			r.d.Withdrawn = map[string]string{}
		}
		r.d.Withdrawn[p.Label] = role
	}
	r.d.dropRole(role)
	r.refreshEnv()
	return true
}

func (r *run) coach(a *flow.Action, p *flow.CoachAction) error {
	who, whom := p.Who, p.Whom
	if who == "" {
		who = flow.RoleSupervisor
	}
	if whom == "" {
		whom = flow.RoleAgent
	}
	target := r.d.Roles[whom]
	if target == nil || target.CallSid == "" {
		// CallSidToCoach needs a call SID (error 13240 otherwise).
		return fmt.Errorf("role %s has no call SID to coach", whom)
	}
	if err := r.updateParticipant(a, who, &api.UpdateParticipantParams{Coaching: ptr(true), CallSidToCoach: ptr(target.CallSid), Muted: ptr(false)}); err != nil {
		return err
	}
	pf := r.d.Roles[who]
	pf.Coaching, pf.Muted, pf.CoachRole = true, false, whom
	r.refreshEnv()
	return nil
}

// recoach points every leg coaching role at its current leg: a handover or
// a new agent gives the role another call, and a whisper must follow the
// role (Twilio's coaching names a call SID, which would go on naming the
// leg that left).
func (r *run) recoach(action, role string) {
	target := r.d.Roles[role]
	if target == nil || target.CallSid == "" {
		return
	}
	conf := r.d.conference()
	if conf == "" {
		return
	}
	for _, who := range sortedKeys(r.d.Roles) {
		p := r.d.Roles[who]
		if who == role || !p.Coaching || p.CoachRole != role {
			continue
		}
		ref, err := r.participantRef(who)
		if err != nil {
			continue
		}
		r.addOp(action, who, twilio.Op{Kind: twilio.OpUpdateParticipant, ConferenceSid: conf, Participant: ref,
			UpdateParticipant: &api.UpdateParticipantParams{Coaching: ptr(true), CallSidToCoach: ptr(target.CallSid)}})
	}
}

func (r *run) announce(a *flow.Action, p *flow.AnnounceAction) error {
	text, err := r.str(p.Say)
	if err != nil {
		return err
	}
	r.d.Announcements = append(r.d.Announcements, announcement{Text: text, Voice: p.Voice, Language: p.Language})
	q := r.sessionQuery("")
	q.Set("n", strconv.Itoa(len(r.d.Announcements)-1))
	u := r.e.callbackURL(PathTwiMLAnnounce, q)
	return r.updateParticipant(a, p.Role, &api.UpdateParticipantParams{AnnounceUrl: &u, AnnounceMethod: ptr("POST")})
}

func (r *run) createTask(a *flow.Action, p *flow.CreateTaskAction) error {
	ws, err := r.workspace()
	if err != nil {
		return err
	}
	workflow, err := r.workflow(p.Workflow)
	if err != nil {
		return err
	}
	attrs, err := r.renderAttributes(p.Attributes)
	if err != nil {
		return err
	}
	queue, err := r.str(p.Queue)
	if err != nil {
		return err
	}
	worker, err := r.str(p.Worker)
	if err != nil {
		return err
	}
	if queue != "" {
		attrs["desired_queue"] = queue
	}
	if worker != "" {
		attrs["requested_agent"] = worker
	}
	role := p.Role
	if role == "" {
		role = flow.RoleConsultee
	}
	attrs["flowd_session"] = r.sess.ID
	attrs["flowd_role"] = role
	// Names this request, so that a resend after a crash can ask TaskRouter
	// whether the first one went through (see Engine.do).
	attrs["flowd_op"] = r.sess.ID + "/" + strconv.Itoa(r.d.OpSeq+1)
	attrs["original_task_sid"] = r.d.TaskSid
	attrs["conference"] = map[string]any{"sid": r.d.ConferenceSid, "room_name": r.d.ConferenceName}
	attrs["type"] = "transfer"
	for _, k := range []string{"from", "to"} {
		if v, ok := r.d.Call[k]; ok {
			if _, set := attrs[k]; !set {
				attrs[k] = v
			}
		}
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return err
	}
	// On the voice channel, as the call's own task (<Enqueue>): without
	// it the task goes to the "default" channel, and in a multitasking
	// workspace a worker already on a voice call could be reserved for it.
	params := &tr.CreateTaskParams{Attributes: ptr(string(b)), TaskChannel: ptr("voice")}
	if workflow != "" {
		params.WorkflowSid = &workflow
	}
	if p.Priority != 0 {
		params.Priority = ptr(p.Priority)
	}
	if p.Timeout != 0 {
		params.Timeout = ptr(p.Timeout)
	}
	r.addOp(a.Kind, role, twilio.Op{Kind: twilio.OpCreateTask, WorkspaceSid: ws, CreateTask: params})
	return nil
}

func (r *run) updateTask(a *flow.Action, p *flow.UpdateTaskAction) error {
	ws, err := r.workspace()
	if err != nil {
		return err
	}
	taskSid := r.d.taskOfRole(p.Role)
	if taskSid == "" {
		return fmt.Errorf("no task for role %q", p.Role)
	}
	add, err := r.renderAttributes(p.Attributes)
	if err != nil {
		return err
	}
	t := r.d.task(taskSid)
	merged := map[string]any{}
	maps.Copy(merged, t.Attributes)
	maps.Copy(merged, add)
	t.Attributes = merged
	b, err := json.Marshal(merged)
	if err != nil {
		return err
	}
	r.addOp(a.Kind, p.Role, twilio.Op{Kind: twilio.OpUpdateTask, WorkspaceSid: ws, TaskSid: taskSid, UpdateTask: &tr.UpdateTaskParams{Attributes: ptr(string(b))}})
	r.refreshEnv()
	return nil
}

func (r *run) completeTask(a *flow.Action, p *flow.CompleteTaskAction) error {
	ws, err := r.workspace()
	if err != nil {
		return err
	}
	role := p.Role
	if role == "" {
		role = flow.RoleAgent
	}
	taskSid := r.d.taskOfRole(role)
	if taskSid == "" {
		// A person dialed by number has no task: nothing to complete (a
		// flow completes "the consultee's task" whoever the consultee was).
		r.warn("complete_task: no task brought role %s into the call; nothing to complete", role)
		return nil
	}
	t := r.d.task(taskSid)
	if t.Status == "completed" || t.Status == "canceled" {
		return nil // already done; completing twice is a Twilio error
	}
	reason, err := r.str(p.Reason)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "call handled"
	}
	status := "completed"
	if p.Wrapup {
		status = "wrapping"
	}
	r.closeTask(a.Kind, role, ws, taskSid, t, status, reason)
	return nil
}

// closeTask queues the REST call that ends a task with status (completed
// or wrapping); a task flowd created that no worker took yet (a transfer
// still waiting in its queue) is canceled instead, the only end TaskRouter
// allows it.
func (r *run) closeTask(action, role, ws, taskSid string, t *taskFacts, status, reason string) {
	if t.Linked && !t.Assigned {
		status = "canceled"
	}
	t.Status = status
	update := &tr.UpdateTaskParams{AssignmentStatus: &status}
	if status != "wrapping" {
		// Twilio: Reason only with completed or canceled; with it, the task
		// is queued for deletion, which must wait until wrap-up ends.
		update.Reason = &reason
	}
	r.addOp(action, role, twilio.Op{Kind: twilio.OpUpdateTask, WorkspaceSid: ws, TaskSid: taskSid, UpdateTask: update})
}

// closeLinkedTasks runs when the call reaches a final state: every task
// flowd created for it (transfers) that is still open is closed —
// canceled when no worker took it yet, completed when one did — so that
// no Task waits in a queue, and no worker stays assigned, for a call that
// is over. The call's first task is the flow's to close (TaskRouter
// cancels it by itself when the caller leaves the queue).
func (r *run) closeLinkedTasks() {
	ws := ""
	for _, sid := range sortedKeys(r.d.Tasks) {
		t := r.d.Tasks[sid]
		if t == nil || !t.Linked || !t.open() {
			continue
		}
		if ws == "" {
			var err error
			if ws, err = r.workspace(); err != nil {
				r.warn("the call ended with task %s still open, and it cannot be closed: %v", sid, err)
				return
			}
		}
		reason := "call ended"
		if !t.Assigned {
			reason = "call ended before a worker took the task"
		}
		r.rec.Actions = append(r.rec.Actions, actionRecord{Action: "close_task", Where: "final"})
		r.closeTask("close_task", t.Role, ws, sid, t, "completed", reason)
	}
}

func (r *run) hangup(a *flow.Action, p *flow.HangupAction) error {
	if p.Role == "" {
		if r.ev.Source == SourceVoice {
			r.twiml = append(r.twiml, twilio.Hangup{})
			return nil
		}
		if conf := r.d.conference(); conf != "" && r.d.ConferenceSid != "" {
			r.addOp(a.Kind, "", twilio.Op{Kind: twilio.OpUpdateConference, ConferenceSid: r.d.ConferenceSid, UpdateConference: &api.UpdateConferenceParams{Status: ptr("completed")}})
			return nil
		}
		if r.d.CallSid == "" {
			return fmt.Errorf("no call to hang up")
		}
		r.endCall(a.Kind, flow.RoleCustomer, r.d.CallSid)
		return nil
	}
	callSid := ""
	if pf := r.d.Roles[p.Role]; pf != nil {
		callSid = pf.CallSid
	}
	if callSid == "" && p.Role == flow.RoleCustomer {
		callSid = r.d.CallSid
	}
	if r.withdrawCalledLeg(a.Kind, p.Role) {
		return nil
	}
	if callSid == "" {
		return fmt.Errorf("role %s has no call to hang up", p.Role)
	}
	r.endCall(a.Kind, p.Role, callSid)
	r.d.dropRole(p.Role)
	r.refreshEnv()
	return nil
}
