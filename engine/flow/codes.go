package flow

// Diagnostic codes. They are stable: tools, CI filters and docs/language.md
// refer to them. Every code is listed in [Codes] with its severity and a
// one-line description.
const (
	// Reading and parsing.
	CodeIO           = "io"             // a file or directory could not be read
	CodeNoFiles      = "no-files"       // a path or glob matched no flow file
	CodeInternal     = "internal"       // a bug in flowd: it panicked on this file
	CodeFileTooLarge = "file-too-large" // over 1 MiB
	CodeYAMLSyntax   = "yaml-syntax"    // not YAML (or several documents)
	CodeTooComplex   = "too-complex"    // too many nodes once aliases are expanded
	CodeTooDeep      = "too-deep"       // nested deeper than 64 levels
	CodeDuplicateKey = "duplicate-key"  // a key twice in one map

	// Shape: reported from the JSON Schema (and identically by the typed decoder).
	CodeUnknownKey    = "unknown-key"
	CodeMissingKey    = "missing-key"
	CodeWrongType     = "wrong-type"
	CodeBadValue      = "bad-value"
	CodeBadAction     = "bad-action"
	CodeUnknownAction = "unknown-action"

	// Expressions and templates.
	CodeBadExpr              = "bad-expr"
	CodeGuardNotBool         = "guard-not-bool"
	CodeBadTemplate          = "bad-template"
	CodeUnknownRole          = "unknown-role"
	CodeUnknownVar           = "unknown-var"
	CodeUnknownField         = "unknown-field"
	CodeCallField            = "call-field-typo"
	CodeUnguardedParticipant = "unguarded-participant"
	CodeUnknownParam         = "unknown-param"
	CodeTypeMismatch         = "type-mismatch"
	CodeUnknownValue         = "unknown-value"
	CodeEnvUnset             = "env-unset"
	CodeDynamicEnv           = "dynamic-env"
	CodeSecretEnv            = "secret-env"
	CodeNumberAsText         = "number-as-text"

	// States, events and transitions.
	CodeUnknownInitial     = "unknown-initial"
	CodeUnknownState       = "unknown-state"
	CodeUnknownEvent       = "unknown-event"
	CodeUnknownCommand     = "unknown-command"
	CodeUnreachableState   = "unreachable-state"
	CodeNoFinalPath        = "no-final-path"
	CodeFinalTransitions   = "final-transitions"
	CodeShadowedTransition = "shadowed-transition"
	CodeConstantGuard      = "constant-guard"
	CodeBadParam           = "bad-param"
	CodeUnhandledCommand   = "unhandled-command"

	// Call topology.
	CodeNeedsConference    = "needs-conference"
	CodeTwiMLContext       = "twiml-context"
	CodeInstructionContext = "instruction-context"
	CodeInstructionEvents  = "instruction-events"
	CodeStrandedHold       = "stranded-hold"
	CodeStrandedQueue      = "stranded-queue"

	// Across files.
	CodeDuplicateFlow   = "duplicate-flow"
	CodeDuplicateNumber = "duplicate-number"
)

// CodeSpec documents one diagnostic code.
type CodeSpec struct {
	Code     string
	Severity Severity
	Desc     string
}

// Codes lists every diagnostic code, in documentation order.
var Codes = []CodeSpec{
	{CodeIO, SeverityError, "A file or directory given on the command line could not be read (validate exits 2)."},
	{CodeNoFiles, SeverityError, "A path, directory or glob matched no flow file (validate exits 2)."},
	{CodeInternal, SeverityError, "flowd itself failed on this file (a bug: please report it with the file)."},
	{CodeFileTooLarge, SeverityError, "The file is over 1 MiB; flows are configuration, not data."},
	{CodeYAMLSyntax, SeverityError, "The file is not valid YAML, or holds more than one YAML document."},
	{CodeTooComplex, SeverityError, "The file expands to more than 100,000 YAML nodes once aliases are followed (an alias bomb)."},
	{CodeTooDeep, SeverityError, "YAML nested deeper than 64 levels (or an alias that contains itself)."},
	{CodeDuplicateKey, SeverityError, "The same key appears twice in one map; YAML would silently keep one of them."},
	{CodeUnknownKey, SeverityError, "A key the language does not define here (often a typo or a wrong indentation)."},
	{CodeMissingKey, SeverityError, "A required key is absent."},
	{CodeWrongType, SeverityError, "A value has the wrong type (e.g. a list where a map is expected, or an unquoted +E.164 number read as an integer)."},
	{CodeBadValue, SeverityError, "A value is not one of the allowed values, does not match the required form (names, E.164 numbers), or is empty where a role or an address is needed."},
	{CodeBadAction, SeverityError, "An action item is not a map with exactly one key, the action's name (or a bare name for actions without required parameters)."},
	{CodeUnknownAction, SeverityError, "An action name that does not exist."},
	{CodeBadExpr, SeverityError, "An if: guard does not compile (syntax, unknown variable or field, type mismatch)."},
	{CodeGuardNotBool, SeverityError, "An if: guard compiles but is not boolean."},
	{CodeBadTemplate, SeverityError, "A ${{ … }} part of a string does not compile, or is unclosed or empty."},
	{CodeUnknownRole, SeverityError, "A role that is neither built in (customer, agent, consultee, supervisor) nor declared under roles: — in an action, in participants.NAME, or compared with event.role."},
	{CodeUnknownVar, SeverityError, "vars.NAME read but never declared under vars: nor assigned by a set action."},
	{CodeUnknownField, SeverityError, "event.NAME is not a field of the event being handled (in entry: and exit:, of any event that enters or leaves the state; a command's event has command and name only), or task.NAME / worker.NAME not a field of the task or worker."},
	{CodeCallField, SeverityWarning, "call.NAME is not a parameter Twilio sends with a call but is one letter or two away from one (call.form for call.from); it would read as empty. Only a near miss is reported: Twilio may send parameters flowd does not list."},
	{CodeUnguardedParticipant, SeverityWarning, "participants.ROLE.FIELD is read with neither ?. nor a check that participants.ROLE is not nil running first (the left of && or ||, the condition of ?:, or the transition's if: for the templates of its do:): while the role is not in the call, participants.ROLE is nil and the read fails when it runs. Write participants.ROLE?.FIELD (?? a default), or participants.ROLE != nil && …"},
	{CodeUnknownParam, SeverityError, "params.NAME is not a parameter of the command being handled (in entry: and exit:, of any command that enters or leaves the state), or params is read where only events, which carry none, lead."},
	{CodeTypeMismatch, SeverityError, "event.NAME, params.NAME, or a vars.NAME every value of which in the flow has one type, is compared with a constant of another type (event.digits == 1: the digits are a string), so the comparison never holds."},
	{CodeUnknownValue, SeverityError, "event.NAME or params.NAME is compared with a value it never has: a call status Twilio does not send, a value outside the parameter's enum."},
	{CodeEnvUnset, SeverityWarning, "env.NAME is not set in the environment validate ran in (CI often lacks production settings); the value is empty at run time unless it is set when flowd serve starts."},
	{CodeDynamicEnv, SeverityError, "env is indexed with a computed name, or the environment is read through $env; only env.NAME (a constant) is allowed, so a flow reads no variable it does not name."},
	{CodeSecretEnv, SeverityError, "env.NAME names one of flowd's secrets (TWILIO_AUTH_TOKEN, TWILIO_API_SECRET, FLOWD_API_TOKEN, FLOWD_STORE): flows never see them, so it would always read as empty."},
	{CodeNumberAsText, SeverityWarning, "An unquoted value under vars:, set: or attributes: that YAML reads as a number although it looks like text: +447700900123 loses its + (447700900123), 02134 is read as the octal number 1116. Quote it to keep the text."},
	{CodeUnknownInitial, SeverityError, "initial: names a state that does not exist."},
	{CodeUnknownState, SeverityError, "A transition's to: names a state that does not exist."},
	{CodeUnknownEvent, SeverityError, "An on: key that is not an event of the catalog."},
	{CodeUnknownCommand, SeverityError, "An on: key without a dot that is not a command declared under commands:."},
	{CodeUnreachableState, SeverityWarning, "No sequence of transitions leads from the initial state to this state."},
	{CodeNoFinalPath, SeverityError, "No sequence of transitions leads from this non-final state to a final state: a call could never finish."},
	{CodeFinalTransitions, SeverityError, "A final state has transitions; a final state ignores all events."},
	{CodeShadowedTransition, SeverityWarning, "A transition can never fire: an earlier transition for the same event has no if:."},
	{CodeConstantGuard, SeverityWarning, "An if: guard that reads nothing from the call (1 == 2, \"false\", \"true\"): always false, its transition never fires and leads nowhere for reachability; always true, it is a transition without if: and shadows the ones after it."},
	{CodeBadParam, SeverityError, "A command parameter's pattern does not compile, or its enum values do not have its type."},
	{CodeUnhandledCommand, SeverityWarning, "A declared command is handled in no state and not at flow level."},
	{CodeNeedsConference, SeverityError, "An action on a conference participant (hold, dial, coach…) where no conference can exist yet: no path from the initial state runs conference, call, redirect or dial first."},
	{CodeTwiMLContext, SeverityError, "A TwiML action (say, play, pause, gather, enqueue) where no voice webhook is waiting for TwiML: only in handlers of call.incoming and call.gather, and in entry/exit actions of states entered or left only by those."},
	{CodeInstructionContext, SeverityWarning, "A TaskRouter instruction (conference, accept, reject, call) outside handlers of reservation.created or of commands: there is no reservation to answer."},
	{CodeInstructionEvents, SeverityWarning, "The flow answers a reservation with the conference instruction and handles announcement.end, announcement.fail or participant.modify: a conference the instruction starts never sends them (its conference_status_callback_event takes start, end, join, leave, mute, hold and speaker only, and the first participant's subscription holds for the whole conference). Not reported when the flow also answers reservations with the call instruction, whose conference is subscribed to every event."},
	{CodeStrandedHold, SeverityWarning, "The customer may be on hold in this state, and no transition out of it unholds, removes or hangs up the customer or ends the call; or a transition out of it ends the call in a final state, on another participant leaving or on a command, without taking the customer off hold (a final state ignores every event, so they would hear hold music until they hang up)."},
	{CodeStrandedQueue, SeverityWarning, "The flow enqueues the caller, and a transition on task.canceled ends the call in a final state without hanging up or redirecting the customer: TaskRouter does not take a call out of its <Enqueue> queue when it cancels the task (the task's timeout, an admin's cancel), so a caller still queued would hear the queue music until they hang up. Write do: [hangup] (harmless when the caller has already hung up)."},
	{CodeDuplicateFlow, SeverityError, "Two files declare the same flow name."},
	{CodeDuplicateNumber, SeverityError, "Two flows claim the same phone number, or one flow lists a number twice."},
}

func codeSeverity(code string) Severity {
	for _, c := range Codes {
		if c.Code == code {
			return c.Severity
		}
	}
	return SeverityError
}
