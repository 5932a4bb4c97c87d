package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Source says where an event came from; it decides what kind of reply the
// event expects.
type Source string

const (
	SourceVoice      Source = "voice"       // incoming call, gather result: TwiML reply
	SourceCallStatus Source = "call-status" // call status callback
	SourceAssignment Source = "assignment"  // TaskRouter assignment callback: instruction reply
	SourceWorkspace  Source = "workspace"   // TaskRouter workspace event
	SourceConference Source = "conference"  // conference status callback
	SourceCommand    Source = "command"     // agent desktop / supervisor console
	SourceOutbox     Source = "outbox"      // the dispatcher (action.failed)
)

// Event is one thing that happened to a call.
type Event struct {
	Source Source
	// Name is the flow event name: call.incoming, participant.join,
	// reservation.created, a command name, …
	Name string

	// Who the event concerns; any may be empty.
	CallSid        string
	TaskSid        string
	ReservationSid string
	ConferenceSid  string
	// ConferenceName is the conference's friendly name (the TaskSid of the
	// call's task when TaskRouter made it).
	ConferenceName string
	WorkerSid      string
	// To is the number called, for call.incoming.
	To string
	// Session addresses a session directly (outbox events, TwiML fetches).
	Session string

	// Fields are readable in expressions as event.NAME.
	Fields map[string]any
	// Params are a command's parameters (params.NAME).
	Params map[string]any
	// Call holds call facts from a voice webhook (from, to, from_country…).
	Call map[string]any
	// TaskAttributes and WorkerAttributes as TaskRouter sent them.
	TaskAttributes   map[string]any
	WorkerAttributes map[string]any
	// Task is what a TaskRouter callback says about the task besides its
	// attributes (zero for other events). A value, not a pointer: every
	// TaskRouter webhook carries one, and it need not cost an allocation.
	Task TaskReport

	// failed is the request an action.failed event reports (outbox
	// events only), for taking back what flowd noted when it asked.
	failed *outboxOp

	// IdempotencyKey is Twilio's I-Twilio-Idempotency-Token (or a command's
	// Idempotency-Key header): a repeated key gets the first reply.
	IdempotencyKey string
	// Request fingerprints what a command's key stands for (its
	// parameters): the key reused for other parameters is refused
	// (KeyReusedError), not answered with the first request's reply.
	Request string
	// SequenceNumber orders conference callbacks; 0 when absent.
	SequenceNumber int64
	Timestamp      time.Time
}

// TaskReport is what a TaskRouter callback says about its task.
type TaskReport struct {
	QueueSid, WorkflowSid string
	// Priority and Age (seconds) as of the callback; HasNumbers is false
	// when the callback carried neither.
	Priority, Age int
	HasNumbers    bool
}

// ReplyKind is what the webhook is answered with.
type ReplyKind string

const (
	ReplyEmpty       ReplyKind = "empty"
	ReplyTwiML       ReplyKind = "twiml"
	ReplyInstruction ReplyKind = "instruction"
	ReplyState       ReplyKind = "state" // a command: the new state as JSON
)

// Reply answers an event.
type Reply struct {
	Kind ReplyKind `json:"kind"`
	Body []byte    `json:"body,omitempty"`
	// Session and State after the event, for logs and command answers.
	Session string `json:"session,omitempty"`
	State   string `json:"state,omitempty"`
	// Duplicate is true when the reply was replayed for a repeated
	// idempotency key.
	Duplicate bool `json:"-"`
	// Request is the Event.Request the reply was stored for.
	Request string `json:"request,omitempty"`
}

// ErrUnknownSession: the event concerns no call flowd knows. Twilio
// callbacks are then answered 200 (so Twilio does not retry forever) and
// logged; commands get 404.
var ErrUnknownSession = errors.New("unknown task or call")

// ErrBadDocument: a TwiML document URL flowd could not have handed out (an
// unknown kind, an announcement that does not exist): 400.
var ErrBadDocument = errors.New("no such TwiML document")

// ErrNoFlow: an incoming call to a number no flow answers.
var ErrNoFlow = errors.New("no flow answers this number")

// CommandError is a command that makes no sense in the current state (409).
type CommandError struct {
	Command string
	State   string
	Allowed []string
	Reason  string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("command %q is not allowed in state %q", e.Command, e.State)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if len(e.Allowed) > 0 {
		msg += " (allowed now: " + strings.Join(e.Allowed, ", ") + ")"
	}
	return msg
}

// TaskClosedError: a command came through a task that is over (completed,
// canceled, deleted) while another task of the call is open: the
// desktop that sent it is stale (the agent's before a transfer) and must
// not act on the caller the next agent now has (409).
type TaskClosedError struct {
	Command string
	Task    string   // the TaskSid in the URL
	Status  string   // its status
	Open    []string // the call's open tasks, one of which the command should name
	CallSid string   // the caller's CallSid, which always addresses the call
}

func (e *TaskClosedError) Error() string {
	return fmt.Sprintf("command %q: task %s is %s and the call is now on task %s; send commands through that task (or the call's CallSid %s)",
		e.Command, e.Task, e.Status, strings.Join(e.Open, ", "), e.CallSid)
}

// KeyReusedError: a command's Idempotency-Key was first used for a request
// with other parameters (422). Replaying that request's answer would tell
// the client something happened that it did not ask for.
type KeyReusedError struct{ Command string }

func (e *KeyReusedError) Error() string {
	return fmt.Sprintf("command %q: this Idempotency-Key was used for a request with other parameters; use a new key for a new request", e.Command)
}

// ParamError is a command with bad parameters (422).
type ParamError struct {
	Command string
	Param   string
	Reason  string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return fmt.Sprintf("command %q: %s", e.Command, e.Reason)
	}
	return fmt.Sprintf("command %q: parameter %q: %s", e.Command, e.Param, e.Reason)
}

// UnknownCommandError: the flow declares no such command (404).
type UnknownCommandError struct{ Command, Flow string }

func (e *UnknownCommandError) Error() string {
	return fmt.Sprintf("flow %q has no command %q", e.Flow, e.Command)
}
