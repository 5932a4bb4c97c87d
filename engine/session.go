package engine

import (
	"encoding/json"
	"maps"
	"strings"
	"time"

	"github.com/flowd/flowd/engine/flow"
)

// sessionData is the engine's part of a stored session (store.Session.Data).
type sessionData struct {
	// CallSid is the customer's call.
	CallSid string `json:"call_sid"`
	// Call holds the customer call's facts (from, to, from_country, …).
	Call map[string]any `json:"call,omitempty"`
	// TaskSid is the primary task: the one <Enqueue> created.
	TaskSid string `json:"task_sid,omitempty"`
	// Tasks are all tasks of the session by SID.
	Tasks map[string]*taskFacts `json:"tasks,omitempty"`
	// Worker is the worker of the latest reservation.
	Worker map[string]any `json:"worker,omitempty"`

	ConferenceSid  string `json:"conference_sid,omitempty"`
	ConferenceName string `json:"conference_name,omitempty"`
	// ConferenceSeq is the highest conference-level SequenceNumber applied.
	ConferenceSeq int64 `json:"conference_seq,omitempty"`
	ConferenceUp  bool  `json:"conference_up,omitempty"`

	// Roles maps a role to its participant.
	Roles map[string]*participantFacts `json:"roles,omitempty"`
	// Left remembers call SIDs that left, so a late callback does not
	// resurrect a role (TWILIO.md: stop acting on legs that have left).
	Left map[string]string `json:"left,omitempty"`
	// Removed maps call SIDs flowd removed (remove, hangup of a role) to
	// their role until their leave callback arrives.
	Removed map[string]string `json:"removed,omitempty"`
	// Withdrawn maps the labels of legs flowd gave up on before knowing
	// their call SID (a transfer canceled while TaskRouter's call
	// instruction rang the worker) to their role: the leg is hung up as
	// soon as a status callback names its SID, and refused if it answers.
	Withdrawn map[string]string `json:"withdrawn,omitempty"`

	Vars map[string]any `json:"vars,omitempty"`

	// Whisper holds the text a role hears before joining (call instruction).
	Whisper map[string]string `json:"whisper,omitempty"`
	// JoinMuted marks roles that join the conference muted.
	JoinMuted map[string]bool `json:"join_muted,omitempty"`
	// Announcements are texts played to one participant (AnnounceUrl), by number.
	Announcements []announcement `json:"announcements,omitempty"`

	// OpSeq numbers the REST calls of this session (outbox payloads).
	OpSeq int `json:"op_seq,omitempty"`
}

type announcement struct {
	Text     string `json:"text"`
	Voice    string `json:"voice,omitempty"`
	Language string `json:"language,omitempty"`
}

type taskFacts struct {
	Attributes  map[string]any `json:"attributes,omitempty"`
	Status      string         `json:"status,omitempty"`
	Reservation string         `json:"reservation,omitempty"`
	// ReservationPending is true between reservation.created and its answer.
	ReservationPending bool   `json:"reservation_pending,omitempty"`
	WorkerSid          string `json:"worker_sid,omitempty"`
	// Role the task's worker takes in the conference.
	Role     string `json:"role,omitempty"`
	Linked   bool   `json:"linked,omitempty"` // created by create_task
	QueueSid string `json:"queue_sid,omitempty"`
	// Assigned is true once a worker took the task (its reservation was
	// accepted, or its role joined the conference): TaskRouter completes
	// an assigned task but only cancels one still pending or reserved.
	Assigned bool `json:"assigned,omitempty"`
	// WorkflowSid, Priority and CreatedAt (the callback's time less the
	// task's age) as the latest TaskRouter callback about the task said.
	WorkflowSid string    `json:"workflow_sid,omitempty"`
	Priority    int       `json:"priority,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
}

// status is the task's assignment status as flows read it (task.status):
// TaskRouter's word once the task is closed, else what flowd saw of it.
func (t *taskFacts) status() string {
	switch {
	case t.Status != "":
		return t.Status
	case t.Assigned:
		return "assigned"
	case t.ReservationPending:
		return "reserved"
	}
	return "pending"
}

// openTasks lists the call's open tasks (taskFacts.open), in SID order.
func (d *sessionData) openTasks() []string {
	var out []string
	for _, sid := range sortedKeys(d.Tasks) {
		if d.Tasks[sid].open() {
			out = append(out, sid)
		}
	}
	return out
}

// open tells whether TaskRouter still holds the task for the call
// (pending, reserved or assigned; wrapping is the worker's wrap-up time,
// already closed for the call).
func (t *taskFacts) open() bool {
	switch t.Status {
	case "completed", "canceled", "wrapping", "wrapup", "deleted", "system-deleted":
		return false
	}
	return true
}

type participantFacts struct {
	flow.Participant
	// Seq is the SequenceNumber of the last conference event applied to it.
	Seq int64 `json:"seq,omitempty"`
	// CoachRole is the role this leg coaches (whispers to) while Coaching:
	// when another leg takes that role, the whisper follows it.
	CoachRole string `json:"coach_role,omitempty"`
	// Called: TaskRouter's call instruction rings this leg, which becomes
	// a conference participant only when its join TwiML runs; until then
	// it is ended through its call, not the conference.
	Called bool `json:"called,omitempty"`
}

func newSessionData() *sessionData {
	return &sessionData{Vars: map[string]any{}, Roles: map[string]*participantFacts{}, Tasks: map[string]*taskFacts{}}
}

func decodeSessionData(b []byte) (*sessionData, error) {
	d := newSessionData()
	if len(b) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, err
	}
	if d.Vars == nil {
		d.Vars = map[string]any{}
	}
	if d.Roles == nil {
		d.Roles = map[string]*participantFacts{}
	}
	if d.Tasks == nil {
		d.Tasks = map[string]*taskFacts{}
	}
	return d, nil
}

// roleOfCall returns the role a call SID plays, or "".
func (d *sessionData) roleOfCall(callSid string) string {
	if callSid == "" {
		return ""
	}
	for r, p := range d.Roles {
		if p.CallSid == callSid {
			return r
		}
	}
	if callSid == d.CallSid {
		return flow.RoleCustomer
	}
	return ""
}

// roleOfLabel is the role whose leg flowd dialed with this conference
// label (the label stays with the leg when a transfer hands it a new role).
func (d *sessionData) roleOfLabel(label string) string {
	if label == "" {
		return ""
	}
	for r, p := range d.Roles {
		if p.Label == label {
			return r
		}
	}
	return ""
}

func (d *sessionData) role(r string) *participantFacts {
	p := d.Roles[r]
	if p == nil {
		p = &participantFacts{}
		d.Roles[r] = p
	}
	return p
}

// task returns the facts of a task, creating them.
func (d *sessionData) task(sid string) *taskFacts {
	t := d.Tasks[sid]
	if t == nil {
		t = &taskFacts{}
		d.Tasks[sid] = t
	}
	return t
}

// taskOfRole returns the task that brought a role's worker into the call,
// else the primary task.
//
// A role that has left or was removed no longer names its task, so the
// task is then found by the role it was created for: the open task of
// that role, an assigned one first. Without this, `remove: agent` before
// `complete_task: agent` (or the agent's own hang-up) after a transfer
// completed the call's first task again and left the transfer's task —
// and its worker — assigned for good.
func (d *sessionData) taskOfRole(role string) string {
	if role == "" {
		return d.TaskSid // no role named: the call's primary task
	}
	if p := d.Roles[role]; p != nil && p.TaskSid != "" {
		return p.TaskSid
	}
	if role != flow.RoleCustomer {
		// A task flowd created (a transfer's) is newer than the call's
		// first one, and an assigned task is the one a worker is on.
		best, bestRank := "", -1
		for _, sid := range sortedKeys(d.Tasks) {
			t := d.Tasks[sid]
			if t == nil || t.Role != role || !t.open() {
				continue
			}
			rank := 0
			if t.Linked {
				rank += 2
			}
			if t.Assigned {
				rank++
			}
			if rank > bestRank {
				best, bestRank = sid, rank
			}
		}
		if best != "" {
			return best
		}
	}
	if role == flow.RoleAgent || role == flow.RoleCustomer {
		return d.TaskSid
	}
	return ""
}

// pendingReservation finds the reservation waiting for an answer, the newest
// first: the one an instruction action outside an assignment callback
// answers by REST.
func (d *sessionData) pendingReservation(preferTask string) (taskSid, resSid string) {
	if t := d.Tasks[preferTask]; t != nil && t.ReservationPending {
		return preferTask, t.Reservation
	}
	for sid, t := range d.Tasks {
		if t.ReservationPending {
			return sid, t.Reservation
		}
	}
	return "", ""
}

// conference returns how REST calls address the conference: its SID when
// known, else its friendly name (Twilio accepts either in the path).
func (d *sessionData) conference() string {
	if d.ConferenceSid != "" {
		return d.ConferenceSid
	}
	return d.ConferenceName
}

// applyTaskAttributes learns roles and the conference from TaskRouter's
// attributes (conference.sid, conference.participants.worker/customer).
func (d *sessionData) applyTaskAttributes(taskSid string, attrs map[string]any) {
	if attrs == nil {
		return
	}
	if taskSid != "" {
		t := d.task(taskSid)
		if t.Attributes == nil {
			t.Attributes = map[string]any{}
		}
		maps.Copy(t.Attributes, attrs)
	}
	if d.CallSid == "" {
		if cs, _ := attrs["call_sid"].(string); cs != "" {
			d.CallSid = cs
		}
	}
	conf, _ := attrs["conference"].(map[string]any)
	if conf == nil {
		return
	}
	if sid, _ := conf["sid"].(string); sid != "" && d.ConferenceSid == "" {
		d.ConferenceSid = sid
	}
	if name, _ := conf["room_name"].(string); name != "" && d.ConferenceName == "" {
		d.ConferenceName = name
	}
	parts, _ := conf["participants"].(map[string]any)
	if cs, _ := parts["customer"].(string); cs != "" && d.Left[cs] == "" {
		if p := d.role(flow.RoleCustomer); p.CallSid == "" {
			p.CallSid = cs
		}
	}
	// The worker key names the agent of the task that the attributes belong
	// to; for a linked task that is the task's role.
	// A leg flowd removed (Removed) or that left stays gone: a late
	// TaskRouter event still naming it must not bring its role back.
	if ws, _ := parts["worker"].(string); ws != "" && d.Left[ws] == "" && d.Removed[ws] == "" && d.roleOfCall(ws) == "" {
		role := flow.RoleAgent
		if t := d.Tasks[taskSid]; t != nil && t.Role != "" {
			role = t.Role
		}
		if p := d.role(role); p.CallSid == "" {
			p.CallSid = ws
			p.TaskSid = taskSid
		}
	}
}

// participants renders the roles for expressions: a role absent from the
// call is nil.
func (d *sessionData) participants() map[string]*flow.Participant {
	out := make(map[string]*flow.Participant, len(d.Roles))
	for r, p := range d.Roles {
		if p.CallSid == "" && p.Label == "" && !p.Joined {
			continue
		}
		pp := p.Participant
		out[r] = &pp
	}
	return out
}

// normaliseKey turns Twilio's PascalCase form keys into the snake_case
// names flows read (FromCountry -> from_country).
func normaliseKey(k string) string {
	var b strings.Builder
	for i, r := range k {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r + ('a' - 'A'))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *sessionData) markLeft(callSid, role string) {
	if callSid == "" {
		return
	}
	if d.Left == nil {
		d.Left = map[string]string{}
	}
	d.Left[callSid] = role
}

// withdrawnCall: a callback names, by its label, the call of a leg flowd
// withdrew (and its SID is no current role's); from now on that call is
// known by its SID as removed. It returns the role the leg was for.
func (d *sessionData) withdrawnCall(current, label, callSid string) (string, bool) {
	role, ok := d.Withdrawn[label]
	if !ok || current != "" || callSid == "" {
		return "", false
	}
	delete(d.Withdrawn, label)
	if d.Removed == nil {
		d.Removed = map[string]string{}
	}
	d.Removed[callSid] = role
	return role, true
}

// dropRole takes a role out of the call now (flowd removed it); the leg's
// later callbacks are recorded in the history, not delivered (Removed).
func (d *sessionData) dropRole(role string) {
	p := d.Roles[role]
	if p == nil {
		return
	}
	if p.CallSid != "" {
		if d.Removed == nil {
			d.Removed = map[string]string{}
		}
		d.Removed[p.CallSid] = role
	}
	delete(d.Roles, role)
}
