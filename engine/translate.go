package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/flowd/flowd/engine/twilio"
)

// This file decides which Twilio callbacks become flow events, under which
// names, and with which event.* fields (the catalog in engine/flow/events.go
// documents them for admins).

// callFacts turns a voice webhook's form into call.* facts: snake_case keys
// (FromCountry -> from_country), SIDs and auth fields left out.
func callFacts(r twilio.VoiceRequest) map[string]any {
	out := make(map[string]any, len(r.Form))
	for k, v := range r.Form {
		if len(v) == 0 || k == "AccountSid" || k == "ApiVersion" || k == "Digits" || k == "SpeechResult" || k == "Confidence" || k == "msg" {
			continue
		}
		out[normaliseKey(k)] = v[0]
	}
	out["status"] = r.CallStatus
	delete(out, "call_status")
	return out
}

// VoiceEvent is call.incoming, or call.gather for a <Gather> result (gather
// set by the route).
func VoiceEvent(r twilio.VoiceRequest, gather bool, session, token string) Event {
	ev := Event{Source: SourceVoice, Name: "call.incoming", CallSid: r.CallSid, To: r.To, Session: session, IdempotencyKey: token,
		Fields: map[string]any{"from": r.From, "to": r.To, "call_sid": r.CallSid}}
	if gather {
		ev.Name = "call.gather"
		ev.Fields["digits"] = r.Digits
		ev.Fields["speech"] = r.SpeechResult
		// A number, as documented; 0 when Twilio sends none (digits).
		confidence, _ := strconv.ParseFloat(r.Form.Get("Confidence"), 64)
		ev.Fields["confidence"] = confidence
	} else {
		ev.Call = callFacts(r)
	}
	return ev
}

// CallStatusEvent is call.status for any leg flowd knows; role and label
// come from the callback URL flowd gave the leg (the role it was dialed as
// and its conference label).
func CallStatusEvent(r twilio.CallStatus, session, role, label, token string) Event {
	f := map[string]any{"status": r.CallStatus, "call_sid": r.CallSid, "duration": r.CallDuration}
	if role != "" {
		f["role"] = role
	}
	if label != "" {
		f["label"] = label
	}
	return Event{Source: SourceCallStatus, Name: "call.status", CallSid: r.CallSid, Session: session, IdempotencyKey: token,
		Timestamp: r.Timestamp, Fields: f}
}

// AssignmentEvent is reservation.created from the assignment callback.
func AssignmentEvent(a twilio.Assignment, token string) Event {
	name, _ := a.WorkerAttributes["name"].(string)
	if name == "" {
		name = a.Form.Get("WorkerName")
	}
	return Event{Source: SourceAssignment, Name: "reservation.created", TaskSid: a.TaskSid, ReservationSid: a.ReservationSid,
		WorkerSid: a.WorkerSid, TaskAttributes: a.TaskAttributes, WorkerAttributes: a.WorkerAttributes,
		IdempotencyKey: token, Timestamp: a.Timestamp,
		Task: TaskReport{QueueSid: a.TaskQueueSid, WorkflowSid: a.WorkflowSid, Priority: a.TaskPriority, Age: a.TaskAge,
			HasNumbers: a.Form.Has("TaskPriority") || a.Form.Has("TaskAge")},
		Fields: map[string]any{"worker_name": name, "queue_sid": a.TaskQueueSid}}
}

// WorkspaceEventOf maps TaskRouter workspace events: task.* and
// reservation.* become flow events of the same name; reservation.created is
// skipped (the assignment callback already delivered it) and worker, activity
// and workflow events concern no call (ok false).
func WorkspaceEventOf(w twilio.WorkspaceEvent, token string) (Event, bool) {
	if !strings.HasPrefix(w.EventType, "task.") && !strings.HasPrefix(w.EventType, "reservation.") {
		return Event{}, false
	}
	if w.EventType == "reservation.created" || w.TaskSid == "" {
		return Event{}, false
	}
	reason := w.TaskCanceledReason
	if reason == "" {
		reason = w.TaskCompletedReason
	}
	return Event{Source: SourceWorkspace, Name: w.EventType, TaskSid: w.TaskSid, ReservationSid: w.ReservationSid,
		WorkerSid: w.WorkerSid, TaskAttributes: w.TaskAttributes, WorkerAttributes: w.WorkerAttributes,
		IdempotencyKey: token, Timestamp: w.Timestamp,
		Task: TaskReport{QueueSid: w.TaskQueueSid, WorkflowSid: w.WorkflowSid, Priority: w.TaskPriority, Age: w.TaskAge,
			HasNumbers: w.Form.Has("TaskPriority") || w.Form.Has("TaskAge")},
		Fields: map[string]any{"reason": reason, "assignment_status": w.TaskAssignmentStatus, "worker_name": w.WorkerName}}, true
}

// ConferenceEventOf maps conference callbacks: conference-start ->
// conference.start, participant-join -> participant.join, announcement-end
// -> announcement.end; speech events concern no flow (ok false).
func ConferenceEventOf(c twilio.ConferenceEvent, session, token string) (Event, bool) {
	name, ok := conferenceEventNames[c.StatusCallbackEvent]
	if !ok {
		return Event{}, false
	}
	f := map[string]any{"conference_sid": c.ConferenceSid, "call_sid": c.CallSid}
	switch {
	case strings.HasPrefix(name, "participant.") || strings.HasPrefix(name, "announcement."):
		f["label"] = c.ParticipantLabel
		f["hold"] = c.Hold
		f["muted"] = c.Muted
		f["coaching"] = c.Coaching
		if c.ReasonParticipantLeft != "" {
			f["reason"] = c.ReasonParticipantLeft
		}
	case name == "conference.end":
		f["reason"] = c.ReasonConferenceEnded
		f["ended_by_call_sid"] = c.CallSidEndingConference
	}
	return Event{Source: SourceConference, Name: name, CallSid: c.CallSid, ConferenceSid: c.ConferenceSid, ConferenceName: c.FriendlyName,
		Session: session, IdempotencyKey: token, SequenceNumber: c.SequenceNumber, Timestamp: c.Timestamp, Fields: f}, true
}

var conferenceEventNames = map[string]string{
	"conference-start":   "conference.start",
	"conference-end":     "conference.end",
	"participant-join":   "participant.join",
	"participant-leave":  "participant.leave",
	"participant-hold":   "participant.hold",
	"participant-unhold": "participant.unhold",
	"participant-mute":   "participant.mute",
	"participant-unmute": "participant.unmute",
	"participant-modify": "participant.modify",
	"announcement-end":   "announcement.end",
	"announcement-fail":  "announcement.fail",
}

// CommandEvent is an agent or supervisor command.
// taskKey is the TaskSid in the URL (any of the session's TaskSids, or its
// CallSid).
func CommandEvent(taskKey, name string, params map[string]any, key string) Event {
	if params == nil {
		params = map[string]any{}
	}
	ev := Event{Source: SourceCommand, Name: name, Session: taskKey, Params: params, IdempotencyKey: key,
		Fields: map[string]any{"command": name}}
	if key != "" {
		ev.Request = paramsFingerprint(params)
	}
	return ev
}

// paramsFingerprint identifies a command's parameters: encoding/json
// writes a map's keys sorted, so equal parameters give equal text.
func paramsFingerprint(params map[string]any) string {
	b, err := json.Marshal(params)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
