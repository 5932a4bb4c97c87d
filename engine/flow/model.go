package flow

import "sort"

// Pos is a place in a flow file. Line is 1-based, Col is 1-based (as
// editors and GitHub annotations count).
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

// Built-in roles. A flow may declare more under `roles:`.
const (
	RoleCustomer   = "customer"
	RoleAgent      = "agent"
	RoleConsultee  = "consultee"
	RoleSupervisor = "supervisor"
)

// BuiltinRoles are always available.
var BuiltinRoles = []string{RoleCustomer, RoleAgent, RoleConsultee, RoleSupervisor}

// Flow is one loaded, validated and compiled flow file.
type Flow struct {
	Name        string   `flow:"flow,required" pattern:"^[A-Za-z0-9_][A-Za-z0-9_-]*$" desc:"Unique name of the flow (letters, digits, - and _)."`
	Description string   `flow:"description" desc:"What the flow is for, for the humans who read it."`
	Numbers     []string `flow:"numbers" pattern:"^[+][1-9][0-9]{1,14}$" desc:"Twilio phone numbers (E.164) whose incoming calls start this flow."`
	// CallerID is the number flowd dials from when it adds a participant
	// (transfers, supervisors). Default: the number the customer called.
	CallerID   *Template                `flow:"caller_id" desc:"Number to call from when flowd dials a participant (default: the number the customer called)."`
	HoldMusic  *Template                `flow:"hold_music" desc:"Default hold music URL (MP3/WAV or TwiML) for hold actions without their own."`
	TaskRouter TaskRouter               `flow:"taskrouter" desc:"TaskRouter references; use ${{ env.NAME }} rather than hard-coded SIDs."`
	Roles      []string                 `flow:"roles" pattern:"^[A-Za-z_][A-Za-z0-9_]*$" desc:"Roles used by this flow, besides the built-in customer, agent, consultee and supervisor."`
	Vars       map[string]*Template     `flow:"vars" keys:"^[A-Za-z_][A-Za-z0-9_]*$" desc:"Session variables and their initial values (templates); read as vars.NAME, changed with set."`
	Commands   map[string]*Command      `flow:"commands" keys:"^[A-Za-z_][A-Za-z0-9_-]*$" desc:"Commands the agent desktop or supervisor console may send (POST /v1/tasks/{TaskSid}/commands/{name})."`
	Initial    string                   `flow:"initial,required" desc:"The state a new call starts in."`
	On         map[string][]*Transition `flow:"on" desc:"Flow-level handlers: apply in every state that does not handle the event itself."`
	States     map[string]*State        `flow:"states,required" keys:"^[A-Za-z_][A-Za-z0-9_-]*$" desc:"The states of the call, by name."`

	// Filled by the loader.
	File       string         `flow:"-"`
	Revision   string         `flow:"-"` // hex sha256 of the file's bytes
	Source     []byte         `flow:"-"` // the file's bytes (stored per revision, see engine)
	StateOrder []string       `flow:"-"` // states in file order
	OnOrder    []string       `flow:"-"` // flow-level events in file order
	EnvVars    map[string]any `flow:"-"` // the environment captured at load (string values; unset names absent)
	Pos        Pos            `flow:"-"`

	// Positions the cross-file checks report at.
	namePos   Pos
	numberPos []Pos
}

// TaskRouter holds the TaskRouter resources a flow uses.
type TaskRouter struct {
	Workspace        *Template `flow:"workspace" desc:"Workspace SID (WS…)."`
	Workflow         *Template `flow:"workflow" desc:"Workflow SID (WW…) that enqueue and create_task use by default."`
	PostWorkActivity *Template `flow:"post_work_activity" desc:"Activity SID (WA…) a worker moves to after a call (conference instruction's post_work_activity_sid)."`
	Pos              Pos       `flow:"-"`
}

// Command is an agent or supervisor action a flow accepts over the API.
type Command struct {
	Name        string            `flow:"-"`
	Description string            `flow:"description" desc:"What the command does."`
	Params      map[string]*Param `flow:"params" keys:"^[A-Za-z_][A-Za-z0-9_]*$" desc:"The command's JSON parameters."`
	OneOf       []string          `flow:"one_of" desc:"Parameters of which exactly one must be given (a transfer's to, queue or worker): the command is refused (422) with none or several."`
	ParamOrder  []string          `flow:"-"`
	Pos         Pos               `flow:"-"`

	oneOfPos []Pos // each one_of item
}

// Param is one typed command parameter.
type Param struct {
	Name        string   `flow:"-"`
	Type        string   `flow:"type" enum:"string,number,boolean" desc:"JSON type of the parameter (default string)."`
	Required    bool     `flow:"required" desc:"The command is refused (422) without it."`
	Enum        []string `flow:"enum" desc:"Allowed values."`
	Pattern     string   `flow:"pattern" desc:"Regular expression a string value must match."`
	Description string   `flow:"description" desc:"What the parameter means."`
	Pos         Pos      `flow:"-"`

	patternPos Pos   // the pattern: value
	enumPos    []Pos // each enum item
}

// State is one state of the call.
type State struct {
	Name        string                   `flow:"-"`
	Description string                   `flow:"description" desc:"What is happening to the call in this state."`
	Final       bool                     `flow:"final" desc:"The call is over for the flow: no transitions leave a final state."`
	Entry       []*Action                `flow:"entry" desc:"Actions run when the state is entered."`
	Exit        []*Action                `flow:"exit" desc:"Actions run when the state is left (not on an internal transition)."`
	On          map[string][]*Transition `flow:"on" desc:"Transitions by event name; the first whose if holds fires."`
	OnOrder     []string                 `flow:"-"`
	Pos         Pos                      `flow:"-"`
}

// Transition is one candidate reaction to an event.
type Transition struct {
	Event string    `flow:"-"`
	If    *Expr     `flow:"if" desc:"Guard: a boolean expr-lang expression; the transition fires only if it holds."`
	Do    []*Action `flow:"do" desc:"Actions to run, in order."`
	To    string    `flow:"to" desc:"Target state; absent means stay (an internal transition: no exit or entry actions)."`
	Pos   Pos       `flow:"-"`
	// FlowLevel is true for a handler declared under the flow's top-level `on:`.
	FlowLevel bool `flow:"-"`

	eventPos Pos // the event key
	toPos    Pos // the to: value
}

// Handlers returns the transitions for event in state s: the state's own,
// or else the flow-level handlers. A final state has none: no transition
// leaves it, flow-level ones included.
func (f *Flow) Handlers(s *State, event string) []*Transition {
	if s.Final {
		return nil
	}
	if ts, ok := s.On[event]; ok {
		return ts
	}
	return f.On[event]
}

// Events returns the sorted names of the events state s reacts to
// (its own and the flow-level ones; none for a final state).
func (f *Flow) Events(s *State) []string {
	if s.Final {
		return nil
	}
	seen := map[string]bool{}
	for e := range s.On {
		seen[e] = true
	}
	for e := range f.On {
		seen[e] = true
	}
	out := make([]string, 0, len(seen))
	for e := range seen {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// HasRole reports whether the flow knows the role.
func (f *Flow) HasRole(r string) bool {
	for _, x := range BuiltinRoles {
		if x == r {
			return true
		}
	}
	for _, x := range f.Roles {
		if x == r {
			return true
		}
	}
	return false
}
