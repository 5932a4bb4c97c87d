package twilio

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// FormError says which field of a webhook form is missing or malformed. The
// server answers 400 with it.
type FormError struct {
	Field  string
	Reason string
}

func (e *FormError) Error() string {
	return "twilio webhook: " + e.Field + ": " + e.Reason
}

// VoiceRequest is a Voice webhook asking for TwiML (incoming call, <Gather>
// action, <Dial>/<Enqueue> action, Redirect ...).
type VoiceRequest struct {
	CallSid       string
	AccountSid    string
	From          string
	To            string
	CallStatus    string
	Direction     string
	Digits        string
	SpeechResult  string
	ParentCallSid string
	ConferenceSid string
	// <Dial action> callbacks: the outcome of the dialed leg.
	DialCallStatus string // completed, answered, busy, no-answer, failed, canceled
	DialCallSid    string
	// <Enqueue action> callbacks: why the call left the queue.
	QueueResult string // bridged, queue-full, error, hangup, redirected, leave, system-error
	QueueSid    string
	Form        url.Values // every field as posted
}

// ParseVoice reads a Voice webhook. It needs CallSid.
func ParseVoice(form url.Values) (VoiceRequest, error) {
	f := fields{form: form}
	r := VoiceRequest{
		CallSid:        f.required("CallSid"),
		AccountSid:     form.Get("AccountSid"),
		From:           form.Get("From"),
		To:             form.Get("To"),
		CallStatus:     form.Get("CallStatus"),
		Direction:      form.Get("Direction"),
		Digits:         form.Get("Digits"),
		SpeechResult:   form.Get("SpeechResult"),
		ParentCallSid:  form.Get("ParentCallSid"),
		ConferenceSid:  form.Get("ConferenceSid"),
		DialCallStatus: form.Get("DialCallStatus"),
		DialCallSid:    form.Get("DialCallSid"),
		QueueResult:    form.Get("QueueResult"),
		QueueSid:       form.Get("QueueSid"),
		Form:           form,
	}
	return r, f.err
}

// CallStatus is a call status callback (StatusCallback of a call or
// participant).
type CallStatus struct {
	CallSid        string
	CallStatus     string // queued, initiated, ringing, in-progress, completed, busy, failed, no-answer, canceled
	From           string
	To             string
	ParentCallSid  string
	ConferenceSid  string
	CallDuration   int       // seconds, on completed
	Timestamp      time.Time // zero if absent or unreadable
	SequenceNumber int64     // orders callbacks of one call; 0 if absent
	Form           url.Values
}

// ParseCallStatus reads a call status callback. It needs CallSid and CallStatus.
func ParseCallStatus(form url.Values) (CallStatus, error) {
	f := fields{form: form}
	r := CallStatus{
		CallSid:        f.required("CallSid"),
		CallStatus:     f.required("CallStatus"),
		From:           form.Get("From"),
		To:             form.Get("To"),
		ParentCallSid:  form.Get("ParentCallSid"),
		ConferenceSid:  form.Get("ConferenceSid"),
		CallDuration:   f.int("CallDuration"),
		Timestamp:      parseTimestamp(form),
		SequenceNumber: f.int64("SequenceNumber"),
		Form:           form,
	}
	return r, f.err
}

// Assignment is a TaskRouter assignment callback: a reservation offers a task
// to a worker and waits for an Instruction.
type Assignment struct {
	AccountSid       string
	WorkspaceSid     string
	WorkflowSid      string
	TaskQueueSid     string
	WorkerSid        string
	TaskSid          string
	ReservationSid   string
	TaskAttributes   map[string]any // never nil
	WorkerAttributes map[string]any // never nil
	TaskAge          int
	TaskPriority     int
	Timestamp        time.Time // zero if absent or unreadable
	Form             url.Values
}

// ParseAssignment reads an assignment callback. It needs TaskSid and
// ReservationSid; TaskAttributes and WorkerAttributes, when present, must be
// JSON objects.
func ParseAssignment(form url.Values) (Assignment, error) {
	f := fields{form: form}
	r := Assignment{
		AccountSid:       form.Get("AccountSid"),
		WorkspaceSid:     form.Get("WorkspaceSid"),
		WorkflowSid:      form.Get("WorkflowSid"),
		TaskQueueSid:     form.Get("TaskQueueSid"),
		WorkerSid:        form.Get("WorkerSid"),
		TaskSid:          f.required("TaskSid"),
		ReservationSid:   f.required("ReservationSid"),
		TaskAttributes:   f.object("TaskAttributes"),
		WorkerAttributes: f.object("WorkerAttributes"),
		TaskAge:          f.int("TaskAge"),
		TaskPriority:     f.int("TaskPriority"),
		Timestamp:        parseTimestamp(form),
		Form:             form,
	}
	return r, f.err
}

// WorkspaceEvent is a TaskRouter event callback (task.*, reservation.*,
// worker.* ...). Fields that do not apply to the event are empty.
type WorkspaceEvent struct {
	EventType            string // e.g. "reservation.accepted", "task.canceled"
	EventDescription     string
	ResourceType         string // Task, Reservation, Worker, Activity, Workflow, Workspace
	ResourceSid          string
	WorkspaceSid         string
	TaskSid              string
	ReservationSid       string
	WorkerSid            string
	WorkerName           string
	WorkerActivitySid    string
	WorkerActivityName   string
	TaskQueueSid         string
	WorkflowSid          string
	TaskAssignmentStatus string
	TaskCanceledReason   string
	TaskCompletedReason  string
	TaskAttributes       map[string]any // never nil
	WorkerAttributes     map[string]any // never nil
	TaskAge              int            // seconds; 0 if absent
	TaskPriority         int            // 0 if absent
	Timestamp            time.Time      // zero if absent or unreadable
	Form                 url.Values
}

// ParseWorkspaceEvent reads a TaskRouter event callback. It needs EventType;
// attributes, when present, must be JSON objects.
func ParseWorkspaceEvent(form url.Values) (WorkspaceEvent, error) {
	f := fields{form: form}
	r := WorkspaceEvent{
		EventType:            f.required("EventType"),
		EventDescription:     form.Get("EventDescription"),
		ResourceType:         form.Get("ResourceType"),
		ResourceSid:          form.Get("ResourceSid"),
		WorkspaceSid:         form.Get("WorkspaceSid"),
		TaskSid:              form.Get("TaskSid"),
		ReservationSid:       form.Get("ReservationSid"),
		WorkerSid:            form.Get("WorkerSid"),
		WorkerName:           form.Get("WorkerName"),
		WorkerActivitySid:    form.Get("WorkerActivitySid"),
		WorkerActivityName:   form.Get("WorkerActivityName"),
		TaskQueueSid:         form.Get("TaskQueueSid"),
		WorkflowSid:          form.Get("WorkflowSid"),
		TaskAssignmentStatus: form.Get("TaskAssignmentStatus"),
		TaskCanceledReason:   form.Get("TaskCanceledReason"),
		TaskCompletedReason:  form.Get("TaskCompletedReason"),
		TaskAttributes:       f.object("TaskAttributes"),
		WorkerAttributes:     f.object("WorkerAttributes"),
		TaskAge:              f.int("TaskAge"),
		TaskPriority:         f.int("TaskPriority"),
		Timestamp:            parseTimestamp(form),
		Form:                 form,
	}
	return r, f.err
}

// ConferenceEvent is a conference status callback. Twilio does not deliver
// them in order: order by SequenceNumber.
type ConferenceEvent struct {
	ConferenceSid           string
	FriendlyName            string
	StatusCallbackEvent     string // conference-start, participant-join, participant-leave, ...
	CallSid                 string // participant events
	ParticipantLabel        string
	ReasonParticipantLeft   string // participant-leave
	ParticipantCallStatus   string // participant-leave
	CallSidEndingConference string // conference-end
	ReasonConferenceEnded   string // conference-end
	Muted                   bool
	Hold                    bool
	Coaching                bool
	EndConferenceOnExit     bool
	SequenceNumber          int64
	Timestamp               time.Time // zero if absent or unreadable
	Form                    url.Values
}

// ParseConferenceEvent reads a conference status callback. It needs
// ConferenceSid, StatusCallbackEvent and SequenceNumber.
func ParseConferenceEvent(form url.Values) (ConferenceEvent, error) {
	f := fields{form: form}
	r := ConferenceEvent{
		ConferenceSid:           f.required("ConferenceSid"),
		FriendlyName:            form.Get("FriendlyName"),
		StatusCallbackEvent:     f.required("StatusCallbackEvent"),
		CallSid:                 form.Get("CallSid"),
		ParticipantLabel:        form.Get("ParticipantLabel"),
		ReasonParticipantLeft:   form.Get("ReasonParticipantLeft"),
		ParticipantCallStatus:   form.Get("ParticipantCallStatus"),
		CallSidEndingConference: form.Get("CallSidEndingConference"),
		ReasonConferenceEnded:   form.Get("ReasonConferenceEnded"),
		Muted:                   f.bool("Muted"),
		Hold:                    f.bool("Hold"),
		Coaching:                f.bool("Coaching"),
		EndConferenceOnExit:     f.bool("EndConferenceOnExit"),
		Timestamp:               parseTimestamp(form),
		Form:                    form,
	}
	if f.required("SequenceNumber") != "" {
		r.SequenceNumber = f.int64("SequenceNumber")
	}
	return r, f.err
}

// fields reads form values and keeps the first problem found.
type fields struct {
	form url.Values
	err  error
}

func (f *fields) fail(field, reason string) {
	if f.err == nil {
		f.err = &FormError{Field: field, Reason: reason}
	}
}

func (f *fields) required(name string) string {
	v := f.form.Get(name)
	if v == "" {
		f.fail(name, "missing")
	}
	return v
}

func (f *fields) int(name string) int {
	v := strings.TrimSpace(f.form.Get(name))
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		f.fail(name, "not an integer")
	}
	return n
}

func (f *fields) int64(name string) int64 {
	v := strings.TrimSpace(f.form.Get(name))
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f.fail(name, "not an integer")
	}
	return n
}

func (f *fields) bool(name string) bool {
	v := strings.TrimSpace(f.form.Get(name))
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		f.fail(name, "not true or false")
	}
	return b
}

// object parses a JSON-object field; absent or empty means {}.
func (f *fields) object(name string) map[string]any {
	v := strings.TrimSpace(f.form.Get(name))
	if v == "" {
		return map[string]any{}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
		f.fail(name, "not a JSON object")
		return map[string]any{}
	}
	return m
}

// Timestamp layouts Twilio uses: RFC 2822 in Voice callbacks ("Mon, 16 Aug
// 2010 03:45:01 +0000"), RFC 3339 or Unix seconds in TaskRouter.
var timestampLayouts = []string{
	time.RFC1123Z,
	"Mon, 2 Jan 2006 15:04:05 -0700",
	time.RFC1123,
	"Mon, 2 Jan 2006 15:04:05 MST",
	time.RFC3339Nano,
	"2006-01-02 15:04:05",
}

// parseTimestamp reads Timestamp (or TaskRouter's TimestampMs). A missing or
// unreadable timestamp gives the zero time rather than an error: it is only
// informative (ordering uses sequence numbers), and refusing the callback
// over it would lose the event.
func parseTimestamp(form url.Values) time.Time {
	if ms := strings.TrimSpace(form.Get("TimestampMs")); ms != "" {
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil && n > 0 {
			return time.UnixMilli(n).UTC()
		}
	}
	return ParseTimestamp(form.Get("Timestamp"))
}

// ParseTimestamp reads a timestamp in any form Twilio sends (RFC 2822,
// RFC 3339, Unix seconds or milliseconds); the zero time if it cannot.
func ParseTimestamp(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}
		}
		if n >= 1e12 { // milliseconds (seconds would be past year 33000)
			return time.UnixMilli(n).UTC()
		}
		return time.Unix(n, 0).UTC()
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
