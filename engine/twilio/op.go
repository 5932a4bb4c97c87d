package twilio

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	api "github.com/twilio/twilio-go/rest/api/v2010"
	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// OpKind names one Twilio REST operation.
type OpKind string

// The REST operations flowd performs. Each comment lists the Op fields the
// kind needs (Validate enforces them).
const (
	OpCreateParticipant OpKind = "participant.create" // ConferenceSid (SID or friendly name) + CreateParticipant
	OpUpdateParticipant OpKind = "participant.update" // ConferenceSid + Participant (call SID or label) + UpdateParticipant
	OpDeleteParticipant OpKind = "participant.delete" // ConferenceSid + Participant
	OpUpdateCall        OpKind = "call.update"        // CallSid + UpdateCall
	OpUpdateConference  OpKind = "conference.update"  // ConferenceSid + UpdateConference
	OpCreateTask        OpKind = "task.create"        // WorkspaceSid + CreateTask
	OpFindTask          OpKind = "task.find"          // WorkspaceSid + FindTask (with EvaluateTaskAttributes); Result.Sid is the first match, "" for none
	OpUpdateTask        OpKind = "task.update"        // WorkspaceSid + TaskSid + UpdateTask
	OpUpdateReservation OpKind = "reservation.update" // WorkspaceSid + TaskSid + ReservationSid + UpdateReservation
	OpUpdateWorker      OpKind = "worker.update"      // WorkspaceSid + WorkerSid + UpdateWorker
)

// Outbox lanes (store.OutboxItem.Lane): a call's requests are sent in order
// within a lane, and the lanes do not wait for each other.
const (
	LaneVoice      = "voice"      // calls, conferences, participants
	LaneTaskRouter = "taskrouter" // tasks, reservations, workers
)

// Lane is the outbox lane of an operation of this kind. The two APIs act on
// different things: a hold, an unhold or a transfer of the caller must not
// wait behind a TaskRouter call Twilio keeps refusing with a 5xx (and the
// reverse). The store's migrations that add lanes give items pending across
// the upgrade the same lanes (migrations/*/…_outbox_lanes.sql).
func (k OpKind) Lane() string {
	switch k {
	case OpCreateTask, OpFindTask, OpUpdateTask, OpUpdateReservation, OpUpdateWorker:
		return LaneTaskRouter
	}
	return LaneVoice
}

// OpKinds lists every known kind, in a stable order.
var OpKinds = []OpKind{
	OpCreateParticipant, OpUpdateParticipant, OpDeleteParticipant,
	OpUpdateCall, OpUpdateConference,
	OpCreateTask, OpFindTask, OpUpdateTask, OpUpdateReservation, OpUpdateWorker,
}

// Op is one REST operation as data. It is stored in an outbox as JSON and
// sent later by Client.Do, so it holds twilio-go's own parameter structs
// (pointer fields with JSON tags) rather than a private copy of them.
type Op struct {
	Kind           OpKind `json:"kind"`
	ConferenceSid  string `json:"conference_sid,omitempty"`
	Participant    string `json:"participant,omitempty"`
	CallSid        string `json:"call_sid,omitempty"`
	WorkspaceSid   string `json:"workspace_sid,omitempty"`
	TaskSid        string `json:"task_sid,omitempty"`
	ReservationSid string `json:"reservation_sid,omitempty"`
	WorkerSid      string `json:"worker_sid,omitempty"`

	CreateParticipant *api.CreateParticipantParams    `json:"create_participant,omitempty"`
	UpdateParticipant *api.UpdateParticipantParams    `json:"update_participant,omitempty"`
	UpdateCall        *api.UpdateCallParams           `json:"update_call,omitempty"`
	UpdateConference  *api.UpdateConferenceParams     `json:"update_conference,omitempty"`
	CreateTask        *tr.CreateTaskParams            `json:"create_task,omitempty"`
	FindTask          *tr.ListTaskParams              `json:"find_task,omitempty"`
	UpdateTask        *tr.UpdateTaskParams            `json:"update_task,omitempty"`
	UpdateReservation *tr.UpdateTaskReservationParams `json:"update_reservation,omitempty"`
	UpdateWorker      *tr.UpdateWorkerParams          `json:"update_worker,omitempty"`
}

// Validate reports whether the fields its Kind needs are present. It catches
// engine bugs before an op is stored, rather than when it is finally sent.
func (o Op) Validate() error {
	var missing []string
	need := func(ok bool, name string) {
		if !ok {
			missing = append(missing, name)
		}
	}
	switch o.Kind {
	case OpCreateParticipant:
		need(o.ConferenceSid != "", "conference_sid")
		need(o.CreateParticipant != nil, "create_participant")
		if p := o.CreateParticipant; p != nil {
			need(p.From != nil && *p.From != "", "create_participant.From")
			need(p.To != nil && *p.To != "", "create_participant.To")
		}
	case OpUpdateParticipant, OpDeleteParticipant:
		need(o.ConferenceSid != "", "conference_sid")
		need(o.Participant != "", "participant")
		if o.Kind == OpUpdateParticipant {
			need(o.UpdateParticipant != nil, "update_participant")
		}
	case OpUpdateCall:
		need(o.CallSid != "", "call_sid")
		need(o.UpdateCall != nil, "update_call")
	case OpUpdateConference:
		need(o.ConferenceSid != "", "conference_sid")
		need(o.UpdateConference != nil, "update_conference")
	case OpCreateTask:
		need(o.WorkspaceSid != "", "workspace_sid")
		need(o.CreateTask != nil, "create_task")
	case OpFindTask:
		need(o.WorkspaceSid != "", "workspace_sid")
		need(o.FindTask != nil && o.FindTask.EvaluateTaskAttributes != nil && *o.FindTask.EvaluateTaskAttributes != "",
			"find_task.EvaluateTaskAttributes")
	case OpUpdateTask:
		need(o.WorkspaceSid != "", "workspace_sid")
		need(o.TaskSid != "", "task_sid")
		need(o.UpdateTask != nil, "update_task")
	case OpUpdateReservation:
		need(o.WorkspaceSid != "", "workspace_sid")
		need(o.TaskSid != "", "task_sid")
		need(o.ReservationSid != "", "reservation_sid")
		need(o.UpdateReservation != nil, "update_reservation")
	case OpUpdateWorker:
		need(o.WorkspaceSid != "", "workspace_sid")
		need(o.WorkerSid != "", "worker_sid")
		need(o.UpdateWorker != nil, "update_worker")
	case "":
		return errors.New("twilio: op has no kind")
	default:
		return fmt.Errorf("twilio: unknown op kind %q", o.Kind)
	}
	if len(missing) > 0 {
		return fmt.Errorf("twilio: %s op is missing %s", o.Kind, strings.Join(missing, ", "))
	}
	// Twilio's spec constrains these path segments to SIDs of one type; a
	// wrong prefix means the engine swapped or mislabeled an identifier.
	// (Only Participants.json, for create, accepts a conference's friendly
	// name; only the participant segment accepts a label.)
	check := func(field, value, prefix string) error {
		if value != "" && !strings.HasPrefix(value, prefix) {
			return fmt.Errorf("twilio: %s op: %s %q is not a %s… SID", o.Kind, field, value, prefix)
		}
		return nil
	}
	var confPrefix string
	if o.Kind == OpUpdateParticipant || o.Kind == OpDeleteParticipant {
		confPrefix = "CF"
	}
	return errors.Join(
		check("conference_sid", o.ConferenceSid, confPrefix),
		check("call_sid", o.CallSid, "CA"),
		check("workspace_sid", o.WorkspaceSid, "WS"),
		check("task_sid", o.TaskSid, "WT"),
		check("reservation_sid", o.ReservationSid, "WR"),
		check("worker_sid", o.WorkerSid, "WK"),
	)
}

// method and resource path relative to the account or workspace, for String.
func (o Op) target() (method, path string) {
	switch o.Kind {
	case OpCreateParticipant:
		return "POST", "Conferences/" + o.ConferenceSid + "/Participants"
	case OpUpdateParticipant:
		return "POST", "Conferences/" + o.ConferenceSid + "/Participants/" + o.Participant
	case OpDeleteParticipant:
		return "DELETE", "Conferences/" + o.ConferenceSid + "/Participants/" + o.Participant
	case OpUpdateCall:
		return "POST", "Calls/" + o.CallSid
	case OpUpdateConference:
		return "POST", "Conferences/" + o.ConferenceSid
	case OpCreateTask:
		return "POST", "Workspaces/" + o.WorkspaceSid + "/Tasks"
	case OpFindTask:
		return "GET", "Workspaces/" + o.WorkspaceSid + "/Tasks"
	case OpUpdateTask:
		return "POST", "Workspaces/" + o.WorkspaceSid + "/Tasks/" + o.TaskSid
	case OpUpdateReservation:
		return "POST", "Workspaces/" + o.WorkspaceSid + "/Tasks/" + o.TaskSid + "/Reservations/" + o.ReservationSid
	case OpUpdateWorker:
		return "POST", "Workspaces/" + o.WorkspaceSid + "/Workers/" + o.WorkerSid
	}
	return "?", string(o.Kind)
}

func (o Op) params() any {
	switch o.Kind {
	case OpCreateParticipant:
		return o.CreateParticipant
	case OpUpdateParticipant:
		return o.UpdateParticipant
	case OpUpdateCall:
		return o.UpdateCall
	case OpUpdateConference:
		return o.UpdateConference
	case OpCreateTask:
		return o.CreateTask
	case OpFindTask:
		return o.FindTask
	case OpUpdateTask:
		return o.UpdateTask
	case OpUpdateReservation:
		return o.UpdateReservation
	case OpUpdateWorker:
		return o.UpdateWorker
	}
	return nil
}

// maxShownValue bounds each parameter value in String, so that task
// attributes or inline TwiML do not flood logs.
const maxShownValue = 60

// String is a short human form for logs and history, e.g.
// "POST Conferences/CF…/Participants/CA… Hold=true HoldUrl=https://…".
// Parameters appear under their Twilio (PascalCase) names, sorted; secrets
// (SIP passwords) are masked.
func (o Op) String() string {
	method, path := o.target()
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(path)
	for _, kv := range paramPairs(o.params()) {
		b.WriteByte(' ')
		b.WriteString(kv)
	}
	return b.String()
}

// paramPairs lists the set fields of a twilio-go params struct as Name=value.
// The structs' JSON names are the form names Twilio uses, so marshalling is a
// faithful, generic way to enumerate them.
func paramPairs(params any) []string {
	if params == nil {
		return nil
	}
	raw, err := json.Marshal(params)
	if err != nil || string(raw) == "null" {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return nil
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k == "PathAccountSid" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		v := fields[k]
		var s string
		if json.Unmarshal(v, &s) != nil {
			var list []string
			if json.Unmarshal(v, &list) == nil {
				s = strings.Join(list, ",")
			} else {
				s = string(v)
			}
		}
		if strings.Contains(strings.ToLower(k), "password") {
			s = "***"
		}
		if r := []rune(s); len(r) > maxShownValue {
			s = string(r[:maxShownValue-1]) + "…"
		}
		out = append(out, k+"="+s)
	}
	return out
}
