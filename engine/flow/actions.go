package flow

// Action is one step of a transition or of a state's entry/exit list. In
// YAML it is a map with exactly one key, the action's name:
//
//   - say: Thanks for calling.
//   - hold: { role: customer, music: "${{ vars.hold_music }}" }
//
// Params holds a pointer to the action's typed parameters (*SayAction,
// *HoldAction, …); the engine switches on its type.
type Action struct {
	Kind   string
	Params any
	Pos    Pos
}

// Reply kinds an action contributes to. An action is either part of the
// answer to the webhook being handled (TwiML or a TaskRouter instruction) or
// a REST call sent after the state is saved.
const (
	ReplyTwiML       = "twiml"
	ReplyInstruction = "instruction"
	ReplyREST        = "rest"
	ReplyNone        = "none" // set, handover: state only
)

// ActionSpec describes one action kind: the single source for the loader,
// the schema generator and the docs.
type ActionSpec struct {
	Name  string
	Desc  string
	Reply string
	// NeedsConference is true for actions that act on a conference
	// participant: they are errors in states no conference can exist in.
	NeedsConference bool
	// New returns a pointer to a zero parameter struct.
	New func() any
}

// Actions lists every action kind, in documentation order.
var Actions = []ActionSpec{
	{Name: "say", Reply: ReplyTwiML, Desc: "Speak text to the caller (TwiML <Say>).", New: func() any { return new(SayAction) }},
	{Name: "play", Reply: ReplyTwiML, Desc: "Play an audio file to the caller (TwiML <Play>).", New: func() any { return new(PlayAction) }},
	{Name: "pause", Reply: ReplyTwiML, Desc: "Wait silently (TwiML <Pause>).", New: func() any { return new(PauseAction) }},
	{Name: "gather", Reply: ReplyTwiML, Desc: "Collect digits or speech; the result arrives as the call.gather event (TwiML <Gather>).", New: func() any { return new(GatherAction) }},
	{Name: "enqueue", Reply: ReplyTwiML, Desc: "Put the caller in a TaskRouter workflow as a new Task (TwiML <Enqueue workflowSid><Task>).", New: func() any { return new(EnqueueAction) }},
	{Name: "conference", Reply: ReplyInstruction, Desc: "Answer the reservation with TaskRouter's conference instruction: the worker is called into a conference named after the TaskSid and the caller is moved into it.", New: func() any { return new(ConferenceAction) }},
	{Name: "accept", Reply: ReplyInstruction, Desc: "Accept the reservation.", New: func() any { return new(AcceptAction) }},
	{Name: "reject", Reply: ReplyInstruction, Desc: "Reject the reservation, optionally moving the worker to an activity.", New: func() any { return new(RejectAction) }},
	{Name: "call", Reply: ReplyInstruction, Desc: "Answer the reservation with the call instruction: the worker is called, hears an optional whisper, then joins the call's conference in a role.", New: func() any { return new(CallAction) }},
	{Name: "redirect", Reply: ReplyREST, Desc: "Move a role's call into the conference (or to a TwiML URL) with a Calls update.", New: func() any { return new(RedirectAction) }},
	{Name: "hold", Reply: ReplyREST, NeedsConference: true, Desc: "Put a role's participant on hold with hold music.", New: func() any { return new(HoldAction) }},
	{Name: "unhold", Reply: ReplyREST, NeedsConference: true, Desc: "Take a role's participant off hold.", New: func() any { return new(RoleAction) }},
	{Name: "mute", Reply: ReplyREST, NeedsConference: true, Desc: "Mute a role's participant: nobody hears them.", New: func() any { return new(RoleAction) }},
	{Name: "unmute", Reply: ReplyREST, NeedsConference: true, Desc: "Unmute a role's participant.", New: func() any { return new(RoleAction) }},
	{Name: "dial", Reply: ReplyREST, NeedsConference: true, Desc: "Call a number, client or SIP address into the conference as a role (Participants create, labelled with the role and a number unique in the call).", New: func() any { return new(DialAction) }},
	{Name: "remove", Reply: ReplyREST, NeedsConference: true, Desc: "Remove a role's participant from the conference (hangs up that leg).", New: func() any { return new(RoleAction) }},
	{Name: "coach", Reply: ReplyREST, NeedsConference: true, Desc: "Whisper: the coach is heard by the coached role only (Coaching=true, CallSidToCoach).", New: func() any { return new(CoachAction) }},
	{Name: "barge", Reply: ReplyREST, NeedsConference: true, Desc: "Barge: the role (a supervisor) is heard by everyone (Muted=false, Coaching=false).", New: func() any { return new(RoleAction) }},
	{Name: "listen", Reply: ReplyREST, NeedsConference: true, Desc: "Monitor: the role hears everyone and is heard by no one (Muted=true, Coaching=false).", New: func() any { return new(RoleAction) }},
	{Name: "announce", Reply: ReplyREST, NeedsConference: true, Desc: "Speak text to one role's participant only (Participants update with AnnounceUrl).", New: func() any { return new(AnnounceAction) }},
	{Name: "create_task", Reply: ReplyREST, Desc: "Create a TaskRouter Task linked to this call (transfers to a queue or a named worker); its events come back to this call's state machine.", New: func() any { return new(CreateTaskAction) }},
	{Name: "update_task", Reply: ReplyREST, Desc: "Merge attributes into a task.", New: func() any { return new(UpdateTaskAction) }},
	{Name: "complete_task", Reply: ReplyREST, Desc: "Complete (or move to wrap-up) the task that brought a role into the call; a task flowd created that no worker has taken yet (a transfer still in its queue) is canceled instead.", New: func() any { return new(CompleteTaskAction) }},
	{Name: "handover", Reply: ReplyNone, Desc: "Give one role's participant (and its task) to another role, e.g. the consultee becomes the agent after a warm transfer.", New: func() any { return new(HandoverAction) }},
	{Name: "set", Reply: ReplyNone, Desc: "Set session variables (vars.NAME) from templates.", New: func() any { return new(SetAction) }},
	{Name: "hangup", Reply: ReplyREST, Desc: "Without a role: end the call for everyone (in a TwiML reply, <Hangup/>). With a role: hang up that leg.", New: func() any { return new(HangupAction) }},
}

// ActionSpecByName finds an action kind.
func ActionSpecByName(name string) (ActionSpec, bool) {
	for _, s := range Actions {
		if s.Name == name {
			return s, true
		}
	}
	return ActionSpec{}, false
}

// Tag conventions on parameter structs:
//   flow:"name[,required][,scalar]"  scalar: the short form `kind: value` fills this field
//   role:"true"                      the string must be a known role (and not be empty)
//   nonempty:"true"                  the string or template must not be empty
//   enum:"a,b,c"                     allowed values
//   desc:"…"                         schema and docs text

// SayAction speaks text.
type SayAction struct {
	Text     *Template `flow:"text,required,scalar" desc:"What to say; may interpolate ${{ … }}."`
	Voice    string    `flow:"voice" desc:"Twilio voice, e.g. Polly.Amy."`
	Language string    `flow:"language" desc:"Language tag, e.g. en-GB."`
	Loop     int       `flow:"loop" min:"0" desc:"Times to repeat (0: Twilio's default of once)."`
}

// PlayAction plays audio.
type PlayAction struct {
	URL  *Template `flow:"url,required,scalar" desc:"URL of an MP3 or WAV file."`
	Loop int       `flow:"loop" min:"0" desc:"Times to repeat; 0 means forever, as in TwiML."`
}

// PauseAction waits.
type PauseAction struct {
	Seconds int `flow:"seconds,scalar" min:"1" desc:"Seconds of silence (default 1)."`
}

// GatherAction collects input; the result is the call.gather event.
type GatherAction struct {
	Say         *Template `flow:"say" desc:"Prompt to speak while listening."`
	Play        *Template `flow:"play" desc:"Prompt audio URL to play while listening."`
	NumDigits   int       `flow:"num_digits" min:"1" desc:"Stop after this many digits."`
	Timeout     int       `flow:"timeout" min:"1" desc:"Seconds of silence before giving up (Twilio default 5)."`
	FinishOnKey string    `flow:"finish_on_key" desc:"Key that ends input (Twilio default #)."`
	Input       string    `flow:"input" enum:"dtmf,speech,dtmf speech" desc:"Input kinds to accept (default dtmf)."`
}

// EnqueueAction creates a TaskRouter task for the caller.
type EnqueueAction struct {
	Workflow   *Template            `flow:"workflow" desc:"Workflow SID; default taskrouter.workflow."`
	Attributes map[string]*Template `flow:"attributes" desc:"Task attributes the workflow routes on (templates)."`
	Priority   int                  `flow:"priority" min:"0" max:"2147483647" desc:"Task priority (0–2147483647)."`
	Timeout    int                  `flow:"timeout" min:"1" max:"1209600" desc:"Seconds the task may wait to be assigned (at most 1209600, two weeks; TaskRouter's default is a day)."`
	WaitMusic  *Template            `flow:"wait_music" desc:"What the caller hears while queued (URL of audio or TwiML)."`
}

// ConferenceAction is TaskRouter's conference instruction.
type ConferenceAction struct {
	From              *Template `flow:"from" desc:"Caller ID for the call to the worker (default: the customer's number)."`
	To                *Template `flow:"to" desc:"Where to call the worker (default: the worker's contact_uri)."`
	Timeout           int       `flow:"timeout" min:"1" max:"600" desc:"Seconds to ring the worker (at most 600, a call's longest ring)."`
	Record            bool      `flow:"record" desc:"Record the conference."`
	Beep              string    `flow:"beep" enum:"true,false,onEnter,onExit" desc:"Beep when participants join or leave."`
	EndOnCustomerExit *bool     `flow:"end_conference_on_customer_exit" desc:"End the conference when the customer leaves (default true)."`
	EndOnExit         *bool     `flow:"end_conference_on_exit" desc:"End the conference when the worker leaves (default false, so transfers work)."`
	PostWorkActivity  *Template `flow:"post_work_activity" desc:"Activity SID after the call; default taskrouter.post_work_activity."`
	WaitMusic         *Template `flow:"wait_music" desc:"What participants hear before the conference starts."`
	EarlyMedia        *bool     `flow:"early_media" desc:"Let the agent hear ringing."`
	MaxParticipants   int       `flow:"max_participants" min:"2" max:"250" desc:"At most this many participants (2–250)."`
}

// AcceptAction accepts the reservation.
type AcceptAction struct{}

// RejectAction rejects the reservation.
type RejectAction struct {
	Activity *Template `flow:"activity,scalar" desc:"Activity SID to move the worker to."`
}

// CallAction is TaskRouter's call instruction, answered so that the called
// worker joins this call's conference as Role, after hearing Whisper.
type CallAction struct {
	Role    string    `flow:"role" role:"true" desc:"Role the answering worker takes in the conference (default agent)."`
	To      *Template `flow:"to" desc:"Where to call (default: the worker's contact_uri)."`
	From    *Template `flow:"from" desc:"Caller ID (default: flow caller_id, else the number the customer called)."`
	Whisper *Template `flow:"whisper" desc:"Text the worker alone hears when answering, before joining (pre-call whisper)."`
	Muted   bool      `flow:"muted" desc:"Join muted (a monitoring supervisor)."`
	Timeout int       `flow:"timeout" min:"1" max:"600" desc:"Seconds to ring (at most 600, a call's longest ring)."`
	Record  bool      `flow:"record" desc:"Record the call."`
}

// RedirectAction moves a role's call.
type RedirectAction struct {
	Role string    `flow:"role,required,scalar" role:"true" desc:"Whose call to move."`
	URL  *Template `flow:"url" desc:"TwiML URL to move the call to; default: join this call's conference in the role."`
}

// RoleAction is the parameter of actions that act on one role.
type RoleAction struct {
	Role string `flow:"role,required,scalar" role:"true" desc:"The role whose participant is acted on."`
}

// HoldAction holds a role.
type HoldAction struct {
	Role  string    `flow:"role,required,scalar" role:"true" desc:"The role to hold."`
	Music *Template `flow:"music" desc:"Hold music URL (MP3/WAV or TwiML); default the flow's hold_music."`
}

// DialAction adds a participant for a role.
type DialAction struct {
	Role       string    `flow:"role,required" role:"true" desc:"Role the new participant takes (its participant label is the role and a number)."`
	To         *Template `flow:"to,required" nonempty:"true" desc:"+E.164 number, client:ID or sip:URI."`
	From       *Template `flow:"from" desc:"Caller ID (default: flow caller_id, else the number the customer called)."`
	Muted      bool      `flow:"muted" desc:"Join muted (monitoring)."`
	Timeout    int       `flow:"timeout" min:"5" max:"600" desc:"Seconds to ring (5–600)."`
	EarlyMedia *bool     `flow:"early_media" desc:"Let the conference hear ringing."`
}

// CoachAction makes Who whisper to Whom.
type CoachAction struct {
	Who  string `flow:"who,scalar" role:"true" desc:"The coach (default supervisor)."`
	Whom string `flow:"whom" role:"true" desc:"The only role that hears the coach (default agent)."`
}

// AnnounceAction speaks to one participant.
type AnnounceAction struct {
	Role     string    `flow:"role,required" role:"true" desc:"Who hears the announcement, alone."`
	Say      *Template `flow:"say,required" desc:"The text."`
	Voice    string    `flow:"voice" desc:"Twilio voice."`
	Language string    `flow:"language" desc:"Language tag."`
}

// CreateTaskAction creates a linked TaskRouter task.
type CreateTaskAction struct {
	Workflow   *Template            `flow:"workflow" desc:"Workflow SID; default taskrouter.workflow."`
	Queue      *Template            `flow:"queue" desc:"Queue name, written to the task as desired_queue."`
	Worker     *Template            `flow:"worker" desc:"Worker SID or name, written as requested_agent."`
	Role       string               `flow:"role" role:"true" desc:"Role the assigned worker will take (default consultee)."`
	Attributes map[string]*Template `flow:"attributes" desc:"More task attributes."`
	Priority   int                  `flow:"priority" min:"0" max:"2147483647" desc:"Task priority (0–2147483647)."`
	Timeout    int                  `flow:"timeout" min:"1" max:"1209600" desc:"Seconds the task may wait to be assigned (at most 1209600, two weeks; TaskRouter's default is a day)."`
}

// UpdateTaskAction merges attributes into a task.
type UpdateTaskAction struct {
	Role       string               `flow:"role" role:"true" desc:"Update the task that brought this role (default: the call's primary task)."`
	Attributes map[string]*Template `flow:"attributes,required" desc:"Attributes to merge."`
}

// CompleteTaskAction completes or wraps up a task.
type CompleteTaskAction struct {
	Role   string    `flow:"role,scalar" role:"true" desc:"Complete the task that brought this role into the call (default agent). After the role left or was removed, its open task is meant: a transfer's task before the call's first one."`
	Reason *Template `flow:"reason" desc:"Reason recorded on the task."`
	Wrapup bool      `flow:"wrapup" desc:"Move the task to wrapping instead of completed."`
}

// HandoverAction moves a participant from one role to another.
type HandoverAction struct {
	From string `flow:"from,required" role:"true" desc:"The role giving up the participant."`
	To   string `flow:"to,required" role:"true" desc:"The role taking it."`
}

// SetAction sets variables. YAML: `set: { name: template, … }`.
type SetAction struct {
	Values map[string]*Template `flow:",inline" keys:"^[A-Za-z_][A-Za-z0-9_]*$" desc:"Variable name to value."`
	Order  []string             `flow:"-"`
}

// HangupAction ends the call or one leg.
type HangupAction struct {
	Role string `flow:"role,scalar" role:"true" desc:"Hang up only this role's leg; absent: end the call for everyone."`
}
