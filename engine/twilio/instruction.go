package twilio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/flowd/flowd/engine/internal/jsonw"
)

// Assignment instructions (the "instruction" field).
const (
	InstructionAccept     = "accept"
	InstructionReject     = "reject"
	InstructionDequeue    = "dequeue"
	InstructionCall       = "call"
	InstructionRedirect   = "redirect"
	InstructionConference = "conference"
	InstructionSupervise  = "supervise" // REST reservation update only
)

// EventList is a list of callback event names. Twilio's assignment
// instructions take it as one comma-separated string
// ("start,end,join,leave"), so it marshals to that; it unmarshals from such a
// string or from a JSON array.
type EventList []string

// MarshalJSON writes the comma-separated form.
func (l EventList) MarshalJSON() ([]byte, error) {
	return json.Marshal(strings.Join(l, ","))
}

// UnmarshalJSON reads a comma- or space-separated string or an array.
func (l *EventList) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*l = list
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("event list: want a string or an array of strings: %w", err)
	}
	*l = splitEvents(s)
	return nil
}

func splitEvents(s string) EventList {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	if len(f) == 0 {
		return nil
	}
	return f
}

// Instruction answers a TaskRouter reservation, either as the JSON reply to
// the assignment callback (JSON) or as a REST reservation update
// (ReservationParams). Field names follow Twilio's "Handling Assignment
// Callbacks" documentation; each field says which instructions use it.
type Instruction struct {
	Instruction string `json:"instruction"` // accept, reject, dequeue, call, redirect, conference (supervise: REST only)

	// reject: the worker's new activity.
	ActivitySid string `json:"activity_sid,omitempty"`

	// dequeue, call, conference: the worker's contact URI (defaults to the
	// worker's contact_uri attribute) and the caller ID for that leg.
	To   string `json:"to,omitempty"`
	From string `json:"from,omitempty"`
	// dequeue, conference (redirect: documented by Twilio as well).
	PostWorkActivitySid string `json:"post_work_activity_sid,omitempty"`
	// dequeue, call: "record-from-answer" or "do-not-record".
	// conference: "true"/"false" (the REST update takes a boolean).
	Record  string `json:"record,omitempty"`
	Timeout int    `json:"timeout,omitempty"` // dequeue, call, conference: seconds to ring the worker; 0 = 60
	// dequeue, call: URL for the worker leg's call status.
	StatusCallbackURL string `json:"status_callback_url,omitempty"`
	// dequeue: events for StatusCallbackURL (initiated, ringing, answered, completed).
	StatusCallbackEvents EventList `json:"status_callback_events,omitempty"`

	// call (required), redirect (required): TwiML URL.
	URL string `json:"url,omitempty"`
	// call, redirect: accept the reservation as part of the instruction.
	Accept *bool `json:"accept,omitempty"`
	// redirect: the queued call to redirect.
	CallSid string `json:"call_sid,omitempty"`

	// conference: the worker's participant and the conference.
	Muted                                   *bool     `json:"muted,omitempty"`
	Beep                                    string    `json:"beep,omitempty"` // true, false, onEnter, onExit
	StartConferenceOnEnter                  *bool     `json:"start_conference_on_enter,omitempty"`
	EndConferenceOnExit                     *bool     `json:"end_conference_on_exit,omitempty"`
	EndConferenceOnCustomerExit             *bool     `json:"end_conference_on_customer_exit,omitempty"`
	BeepOnCustomerEntrance                  *bool     `json:"beep_on_customer_entrance,omitempty"`
	WaitURL                                 string    `json:"wait_url,omitempty"`
	WaitMethod                              string    `json:"wait_method,omitempty"`
	EarlyMedia                              *bool     `json:"early_media,omitempty"`
	MaxParticipants                         int       `json:"max_participants,omitempty"` // 2–250
	ConferenceStatusCallback                string    `json:"conference_status_callback,omitempty"`
	ConferenceStatusCallbackMethod          string    `json:"conference_status_callback_method,omitempty"`
	ConferenceStatusCallbackEvent           EventList `json:"conference_status_callback_event,omitempty"` // start, end, join, leave, mute, hold, speaker
	ConferenceRecord                        string    `json:"conference_record,omitempty"`
	ConferenceTrim                          string    `json:"conference_trim,omitempty"`
	RecordingChannels                       string    `json:"recording_channels,omitempty"`
	RecordingStatusCallback                 string    `json:"recording_status_callback,omitempty"`
	RecordingStatusCallbackMethod           string    `json:"recording_status_callback_method,omitempty"`
	ConferenceRecordingStatusCallback       string    `json:"conference_recording_status_callback,omitempty"`
	ConferenceRecordingStatusCallbackMethod string    `json:"conference_recording_status_callback_method,omitempty"`
	Region                                  string    `json:"region,omitempty"`
	SipAuthUsername                         string    `json:"sip_auth_username,omitempty"`
	SipAuthPassword                         string    `json:"sip_auth_password,omitempty"`
	JitterBufferSize                        string    `json:"jitter_buffer_size,omitempty"`
	// conference: the worker leg's call progress callback.
	StatusCallback       string    `json:"status_callback,omitempty"`
	StatusCallbackMethod string    `json:"status_callback_method,omitempty"`
	StatusCallbackEvent  EventList `json:"status_callback_event,omitempty"` // initiated, ringing, answered, completed

	// supervise (REST only): the supervisor's SID or contact URI and the mode.
	Supervisor     string `json:"supervisor,omitempty"`
	SupervisorMode string `json:"supervisor_mode,omitempty"` // monitor, whisper, barge
}

// Validate checks the instruction name and the parameters it requires.
func (i Instruction) Validate() error {
	switch i.Instruction {
	case InstructionAccept, InstructionReject, InstructionDequeue, InstructionConference:
	case InstructionCall:
		if i.URL == "" {
			return errors.New("twilio: call instruction needs a url")
		}
	case InstructionRedirect:
		if i.URL == "" || i.CallSid == "" {
			return errors.New("twilio: redirect instruction needs call_sid and url")
		}
	case InstructionSupervise:
		if i.Supervisor == "" {
			return errors.New("twilio: supervise instruction needs a supervisor")
		}
	case "":
		return errors.New("twilio: instruction is empty")
	default:
		return fmt.Errorf("twilio: unknown instruction %q", i.Instruction)
	}
	switch i.Beep {
	case "", "true", "false", "onEnter", "onExit":
	default:
		return fmt.Errorf("twilio: beep %q is not true, false, onEnter or onExit", i.Beep)
	}
	if i.MaxParticipants != 0 && (i.MaxParticipants < 2 || i.MaxParticipants > 250) {
		return fmt.Errorf("twilio: max_participants %d is outside 2–250", i.MaxParticipants)
	}
	return nil
}

// JSON is the body of the assignment-callback reply (served with
// Content-Type: application/json).
func (i Instruction) JSON() ([]byte, error) {
	if err := i.Validate(); err != nil {
		return nil, err
	}
	if i.Instruction == InstructionSupervise {
		return nil, errors.New("twilio: supervise is not an assignment-callback instruction; use ReservationParams")
	}
	// One allocation: flowd's conference instruction is about 550 bytes
	// (most of it the status callback URL); 1 KiB leaves room for a long
	// public URL, and the reply is short-lived.
	return i.appendJSON(make([]byte, 0, 1024)), nil
}

// appendJSON writes exactly what encoding/json.Marshal writes for i, without
// its reflection: JSON answers every assignment callback. A field added to
// Instruction must be added here too; TestInstructionAppendJSONMatchesMarshal
// fails until it is.
func (i *Instruction) appendJSON(b []byte) []byte {
	o := jsonw.Begin(b)
	o.String("instruction", i.Instruction, false)
	o.String("activity_sid", i.ActivitySid, true)
	o.String("to", i.To, true)
	o.String("from", i.From, true)
	o.String("post_work_activity_sid", i.PostWorkActivitySid, true)
	o.String("record", i.Record, true)
	o.Int("timeout", int64(i.Timeout), true)
	o.String("status_callback_url", i.StatusCallbackURL, true)
	appendEvents(&o, "status_callback_events", i.StatusCallbackEvents)
	o.String("url", i.URL, true)
	o.BoolPtr("accept", i.Accept)
	o.String("call_sid", i.CallSid, true)
	o.BoolPtr("muted", i.Muted)
	o.String("beep", i.Beep, true)
	o.BoolPtr("start_conference_on_enter", i.StartConferenceOnEnter)
	o.BoolPtr("end_conference_on_exit", i.EndConferenceOnExit)
	o.BoolPtr("end_conference_on_customer_exit", i.EndConferenceOnCustomerExit)
	o.BoolPtr("beep_on_customer_entrance", i.BeepOnCustomerEntrance)
	o.String("wait_url", i.WaitURL, true)
	o.String("wait_method", i.WaitMethod, true)
	o.BoolPtr("early_media", i.EarlyMedia)
	o.Int("max_participants", int64(i.MaxParticipants), true)
	o.String("conference_status_callback", i.ConferenceStatusCallback, true)
	o.String("conference_status_callback_method", i.ConferenceStatusCallbackMethod, true)
	appendEvents(&o, "conference_status_callback_event", i.ConferenceStatusCallbackEvent)
	o.String("conference_record", i.ConferenceRecord, true)
	o.String("conference_trim", i.ConferenceTrim, true)
	o.String("recording_channels", i.RecordingChannels, true)
	o.String("recording_status_callback", i.RecordingStatusCallback, true)
	o.String("recording_status_callback_method", i.RecordingStatusCallbackMethod, true)
	o.String("conference_recording_status_callback", i.ConferenceRecordingStatusCallback, true)
	o.String("conference_recording_status_callback_method", i.ConferenceRecordingStatusCallbackMethod, true)
	o.String("region", i.Region, true)
	o.String("sip_auth_username", i.SipAuthUsername, true)
	o.String("sip_auth_password", i.SipAuthPassword, true)
	o.String("jitter_buffer_size", i.JitterBufferSize, true)
	o.String("status_callback", i.StatusCallback, true)
	o.String("status_callback_method", i.StatusCallbackMethod, true)
	appendEvents(&o, "status_callback_event", i.StatusCallbackEvent)
	o.String("supervisor", i.Supervisor, true)
	o.String("supervisor_mode", i.SupervisorMode, true)
	return o.End()
}

// appendEvents writes an omitempty EventList as EventList.MarshalJSON does,
// one comma-joined string, without building the joined string: each item is
// escaped on its own and its opening quote overwritten by the comma. That is
// the escape of the joined string, since the ASCII comma ends any invalid
// UTF-8 sequence at an item's edge.
func appendEvents(o *jsonw.Object, name string, l EventList) {
	if len(l) == 0 {
		return
	}
	o.Field(name)
	for k, s := range l {
		at := len(o.B)
		o.B = jsonw.String(o.B, s)
		if k > 0 {
			o.B[at] = ','
		}
		if k < len(l)-1 {
			o.B = o.B[:len(o.B)-1] // the closing quote; the next item adds it
		}
	}
}

// ReservationParams is the same instruction as a REST reservation update
// (Op UpdateReservation). accept and reject become ReservationStatus; the
// others map onto the Dequeue*/Call*/Redirect* prefixed or conference
// parameters of UpdateTaskReservation.
func (i Instruction) ReservationParams() *tr.UpdateTaskReservationParams {
	p := &tr.UpdateTaskReservationParams{}
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	num := func(n int) *int {
		if n == 0 {
			return nil
		}
		return &n
	}
	events := func(l EventList) *[]string {
		if len(l) == 0 {
			return nil
		}
		c := append([]string(nil), l...)
		return &c
	}
	switch i.Instruction {
	case InstructionAccept:
		p.ReservationStatus = str("accepted")
		return p
	case InstructionReject:
		p.ReservationStatus = str("rejected")
		p.WorkerActivitySid = str(i.ActivitySid)
		return p
	}
	p.Instruction = str(i.Instruction)
	switch i.Instruction {
	case InstructionDequeue:
		p.DequeueTo = str(i.To)
		p.DequeueFrom = str(i.From)
		p.DequeuePostWorkActivitySid = str(i.PostWorkActivitySid)
		p.DequeueRecord = str(i.Record)
		p.DequeueTimeout = num(i.Timeout)
		p.DequeueStatusCallbackUrl = str(i.StatusCallbackURL)
		p.DequeueStatusCallbackEvent = events(i.StatusCallbackEvents)
	case InstructionCall:
		p.CallTo = str(i.To)
		p.CallFrom = str(i.From)
		p.CallUrl = str(i.URL)
		p.CallAccept = i.Accept
		p.CallRecord = str(i.Record)
		p.CallTimeout = num(i.Timeout)
		p.CallStatusCallbackUrl = str(i.StatusCallbackURL)
	case InstructionRedirect:
		p.RedirectCallSid = str(i.CallSid)
		p.RedirectUrl = str(i.URL)
		p.RedirectAccept = i.Accept
	case InstructionSupervise:
		p.Supervisor = str(i.Supervisor)
		p.SupervisorMode = str(i.SupervisorMode)
		p.From = str(i.From)
	case InstructionConference:
		p.To = str(i.To)
		p.From = str(i.From)
		p.PostWorkActivitySid = str(i.PostWorkActivitySid)
		p.Timeout = num(i.Timeout)
		switch i.Record {
		case "true", "record-from-answer", "record-from-start":
			t := true
			p.Record = &t
		case "false", "do-not-record":
			f := false
			p.Record = &f
		}
		p.Muted = i.Muted
		p.Beep = str(i.Beep)
		p.StartConferenceOnEnter = i.StartConferenceOnEnter
		p.EndConferenceOnExit = i.EndConferenceOnExit
		p.EndConferenceOnCustomerExit = i.EndConferenceOnCustomerExit
		p.BeepOnCustomerEntrance = i.BeepOnCustomerEntrance
		p.WaitUrl = str(i.WaitURL)
		p.WaitMethod = str(i.WaitMethod)
		p.EarlyMedia = i.EarlyMedia
		p.MaxParticipants = num(i.MaxParticipants)
		p.ConferenceStatusCallback = str(i.ConferenceStatusCallback)
		p.ConferenceStatusCallbackMethod = str(i.ConferenceStatusCallbackMethod)
		p.ConferenceStatusCallbackEvent = events(i.ConferenceStatusCallbackEvent)
		p.ConferenceRecord = str(i.ConferenceRecord)
		p.ConferenceTrim = str(i.ConferenceTrim)
		p.RecordingChannels = str(i.RecordingChannels)
		p.RecordingStatusCallback = str(i.RecordingStatusCallback)
		p.RecordingStatusCallbackMethod = str(i.RecordingStatusCallbackMethod)
		p.ConferenceRecordingStatusCallback = str(i.ConferenceRecordingStatusCallback)
		p.ConferenceRecordingStatusCallbackMethod = str(i.ConferenceRecordingStatusCallbackMethod)
		p.Region = str(i.Region)
		p.SipAuthUsername = str(i.SipAuthUsername)
		p.SipAuthPassword = str(i.SipAuthPassword)
		p.JitterBufferSize = str(i.JitterBufferSize)
		p.StatusCallback = str(i.StatusCallback)
		p.StatusCallbackMethod = str(i.StatusCallbackMethod)
		p.StatusCallbackEvent = events(i.StatusCallbackEvent)
	}
	return p
}
