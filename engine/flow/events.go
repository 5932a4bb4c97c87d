package flow

import "strings"

// FieldSpec is one field of an event, read in expressions as event.NAME.
type FieldSpec struct {
	Name string
	// Type is the JSON type of the value: string, number or boolean.
	Type string
	Desc string
	// Values lists the possible values of a string field, when they are a
	// closed set (call.status's status). Empty: any string.
	Values []string
	// Role is true for a field whose value is a role name (event.role,
	// event.ended_by): comparing it with a constant that is not a role is an
	// error.
	Role bool
}

// EventSpec describes one event the runtime delivers to a flow.
type EventSpec struct {
	Name string
	// Source says where the event comes from (which Twilio callback).
	Source string
	Desc   string
	Fields []FieldSpec
}

// Event sources.
const (
	SourceVoice      = "voice webhook"
	SourceCallStatus = "call status callback"
	SourceAssignment = "TaskRouter assignment callback"
	SourceWorkspace  = "TaskRouter workspace event callback"
	SourceConference = "conference status callback"
	SourceEngine     = "flowd"
	callStatusValues = "queued,initiated,ringing,in-progress,completed,busy,no-answer,failed,canceled"
	eventFieldName   = "name"
	eventFieldRole   = "role"
	// eventFieldCommand is the one field of a command's event besides
	// name: the command's name (its parameters are params.NAME).
	eventFieldCommand = "command"
)

// Every event carries these fields besides its own.
var commonEventFields = []FieldSpec{
	{Name: eventFieldName, Type: "string", Desc: "The event's name, e.g. participant.join."},
}

var (
	reservationFields = []FieldSpec{
		{Name: "task_sid", Type: "string", Desc: "The reserved task (WT…)."},
		{Name: "reservation_sid", Type: "string", Desc: "The reservation (WR…)."},
		{Name: "worker_sid", Type: "string", Desc: "The reserved worker (WK…)."},
		{Name: "worker_name", Type: "string", Desc: "The worker's friendly name."},
		{Name: "role", Type: "string", Role: true, Desc: "The role the worker will take: agent for the call's own task, the create_task role for a linked task."},
		{Name: "transfer", Type: "boolean", Desc: "True when the task was created by create_task (a transfer or consult)."},
	}
	taskFields = []FieldSpec{
		{Name: "task_sid", Type: "string", Desc: "The task (WT…)."},
		{Name: "reason", Type: "string", Desc: "Why the task was canceled or completed (TaskCanceledReason / TaskCompletedReason)."},
		{Name: "assignment_status", Type: "string", Desc: "pending, reserved, assigned, canceled, completed or wrapping."},
		{Name: "transfer", Type: "boolean", Desc: "True for a task created by create_task."},
	}
	participantFields = []FieldSpec{
		{Name: "role", Type: "string", Role: true, Desc: "The participant's role (from its label)."},
		{Name: "call_sid", Type: "string", Desc: "The participant's call (CA…)."},
		{Name: "label", Type: "string", Desc: "The participant's label."},
		{Name: "hold", Type: "boolean", Desc: "The participant is on hold."},
		{Name: "muted", Type: "boolean", Desc: "The participant is muted."},
		{Name: "coaching", Type: "boolean", Desc: "The participant is coaching (whispering to) another."},
		{Name: "reason", Type: "string", Desc: "For leave: why the participant left (ReasonParticipantLeft)."},
	}
	announcementFields = []FieldSpec{
		{Name: "role", Type: "string", Role: true, Desc: "Who the announcement was played to."},
		{Name: "call_sid", Type: "string", Desc: "That participant's call (CA…)."},
	}
	conferenceFields = []FieldSpec{
		{Name: "conference_sid", Type: "string", Desc: "The conference (CF…)."},
		{Name: "reason", Type: "string", Desc: "For end: why the conference ended (ReasonConferenceEnded)."},
		{Name: "ended_by", Type: "string", Role: true, Desc: "For end: the role whose leaving ended the conference."},
	}
)

func eventGroup(prefix, source string, fields []FieldSpec, names []string, descs map[string]string) []EventSpec {
	out := make([]EventSpec, 0, len(names))
	for _, n := range names {
		out = append(out, EventSpec{Name: prefix + n, Source: source, Desc: descs[n], Fields: fields})
	}
	return out
}

// Events is the catalog of events the runtime emits, in documentation order.
// A flow may also handle every command it declares under commands:.
var Events = func() []EventSpec {
	ev := []EventSpec{
		{Name: "call.incoming", Source: SourceVoice, Desc: "A call to one of the flow's numbers arrived; the reply is TwiML.", Fields: []FieldSpec{
			{Name: "from", Type: "string", Desc: "The caller's number."},
			{Name: "to", Type: "string", Desc: "The number called."},
			{Name: "call_sid", Type: "string", Desc: "The customer's call (CA…)."},
		}},
		{Name: "call.gather", Source: SourceVoice, Desc: "The result of a gather action; the reply is TwiML.", Fields: []FieldSpec{
			{Name: "digits", Type: "string", Desc: "Digits pressed (empty if none)."},
			{Name: "speech", Type: "string", Desc: "Speech recognized (empty if none)."},
			{Name: "confidence", Type: "number", Desc: "Speech recognition confidence, 0 to 1."},
		}},
		{Name: "call.status", Source: SourceCallStatus, Desc: "A call flowd knows about changed status (the customer's, or a leg flowd dialed).", Fields: []FieldSpec{
			{Name: "status", Type: "string", Values: strings.Split(callStatusValues, ","), Desc: "The new status."},
			{Name: "role", Type: "string", Role: true, Desc: "Whose call it is."},
			{Name: "call_sid", Type: "string", Desc: "The call (CA…)."},
			{Name: "duration", Type: "number", Desc: "Call duration in seconds, when completed."},
		}},
	}
	ev = append(ev, eventGroup("reservation.", SourceAssignment, reservationFields,
		[]string{"created", "accepted", "rejected", "timeout", "canceled", "rescinded", "completed", "wrapup", "failed"},
		map[string]string{
			"created":   "A worker was reserved for a task of this call (assignment callback); the reply is a TaskRouter instruction.",
			"accepted":  "The worker accepted the reservation.",
			"rejected":  "The worker rejected the reservation.",
			"timeout":   "The worker did not answer the reservation in time.",
			"canceled":  "The reservation was canceled (the task was canceled or timed out).",
			"rescinded": "The reservation was rescinded (another worker took the task).",
			"completed": "The reservation's task was completed.",
			"wrapup":    "The reservation's task moved to wrap-up.",
			"failed":    "The reservation failed (e.g. the worker could not be called).",
		})...)
	ev = append(ev, eventGroup("task.", SourceWorkspace, taskFields,
		[]string{"created", "updated", "canceled", "wrapup", "completed", "deleted", "system-deleted",
			"transfer-initiated", "transfer-attempt-failed", "transfer-failed", "transfer-canceled", "transfer-completed"},
		map[string]string{
			"created":                 "A task of this call was created.",
			"updated":                 "A task's attributes or priority changed.",
			"canceled":                "A task was canceled: for the call's own task, the caller hung up while queued, or nobody took the task before its timeout (then the caller is still in the queue).",
			"wrapup":                  "A task moved to wrap-up.",
			"completed":               "A task was completed.",
			"deleted":                 "A task was deleted.",
			"system-deleted":          "TaskRouter deleted a task (TTL expired).",
			"transfer-initiated":      "A TaskRouter (Flex) transfer of the task started.",
			"transfer-attempt-failed": "One attempt of a transfer failed.",
			"transfer-failed":         "A transfer failed.",
			"transfer-canceled":       "A transfer was canceled.",
			"transfer-completed":      "A transfer completed.",
		})...)
	ev = append(ev, eventGroup("conference.", SourceConference, conferenceFields,
		[]string{"start", "end"},
		map[string]string{
			"start": "The call's conference started.",
			"end":   "The call's conference ended.",
		})...)
	ev = append(ev, eventGroup("participant.", SourceConference, participantFields,
		[]string{"join", "leave", "hold", "unhold", "mute", "unmute", "modify"},
		map[string]string{
			"join":   "A participant joined the conference.",
			"leave":  "A participant left the conference (hung up or was removed).",
			"hold":   "A participant was put on hold.",
			"unhold": "A participant was taken off hold.",
			"mute":   "A participant was muted.",
			"unmute": "A participant was unmuted.",
			"modify": "A participant changed otherwise (e.g. coaching started or stopped). Not sent in a conference the conference instruction started (instruction-events).",
		})...)
	ev = append(ev, eventGroup("announcement.", SourceConference, announcementFields,
		[]string{"end", "fail"},
		map[string]string{
			"end":  "An announce action finished playing. Not sent in a conference the conference instruction started (instruction-events).",
			"fail": "An announce action could not be played. Not sent in a conference the conference instruction started (instruction-events).",
		})...)
	ev = append(ev, EventSpec{Name: "action.failed", Source: SourceEngine,
		Desc: "flowd gave up on a REST call (an action) after retries, or an action could not run at all (a template reading a participant who is not in the call): then error says why, with the flow's line, and code and status are 0. It comes after the requests queued before the failed action, so a hold queued just before is in place for the recovery.",
		Fields: []FieldSpec{
			{Name: "action", Type: "string", Desc: "The action kind, e.g. hold."},
			{Name: "role", Type: "string", Role: true, Desc: "The role it acted on, if any."},
			{Name: "error", Type: "string", Desc: "The error message."},
			{Name: "code", Type: "number", Desc: "Twilio's error code, if any (e.g. 13240)."},
			{Name: "status", Type: "number", Desc: "The HTTP status of the last attempt."},
			{Name: "participant", Type: "string", Desc: "For an action on a participant: its call SID or label."},
		}})
	return ev
}()

var eventsByName = func() map[string]*EventSpec {
	m := make(map[string]*EventSpec, len(Events))
	for i := range Events {
		m[Events[i].Name] = &Events[i]
	}
	return m
}()

// EventByName finds a catalog event.
func EventByName(name string) (EventSpec, bool) {
	e, ok := eventsByName[name]
	if !ok {
		return EventSpec{}, false
	}
	return *e, true
}

// Field finds a field of the event, including the fields every event has.
func (e EventSpec) Field(name string) (FieldSpec, bool) {
	for _, f := range e.Fields {
		if f.Name == name {
			return f, true
		}
	}
	for _, f := range commonEventFields {
		if f.Name == name {
			return f, true
		}
	}
	return FieldSpec{}, false
}

// IsTwiMLEvent reports whether handlers of the event answer with TwiML (the
// voice webhook is waiting): call.incoming and call.gather.
func IsTwiMLEvent(name string) bool { return name == "call.incoming" || name == "call.gather" }

// IsCommand reports whether event names a command the flow declares.
func (f *Flow) IsCommand(event string) bool {
	_, ok := f.Commands[event]
	return ok
}

// impliesConference reports whether an event can only happen while the call
// has a conference.
func impliesConference(event string) bool {
	return strings.HasPrefix(event, "conference.") || strings.HasPrefix(event, "participant.") ||
		strings.HasPrefix(event, "announcement.")
}
