package twilio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/twilio/twilio-go/twiml"
)

// Verb is one TwiML verb of a <Response>: Say, Play, Pause, Gather, Enqueue,
// Dial, Redirect, Hangup or Reject.
type Verb interface{ verb() }

// LoopForever as a Say/Play Loop repeats until the call moves on (Twilio's
// loop="0"). Loop 0 leaves Twilio's default (once).
const LoopForever = -1

// Say speaks Text.
type Say struct {
	Text     string
	Voice    string // e.g. "alice", "Polly.Joanna"; "" = Twilio's default
	Language string // e.g. "en-US"
	Loop     int    // 0 = default (once), n>0 = n times, LoopForever
}

// Play plays the audio at URL.
type Play struct {
	URL  string
	Loop int // 0 = default (once), n>0 = n times, LoopForever
}

// Pause waits Length seconds (0 = Twilio's default, 1 s).
type Pause struct {
	Length int
}

// Gather collects digits or speech while playing Prompt.
type Gather struct {
	Action      string // where Twilio posts the result; "" = the current document's URL
	Method      string // "" = POST
	Input       string // "dtmf", "speech" or "dtmf speech"; "" = dtmf
	FinishOnKey string // "" = Twilio's default "#"
	NumDigits   int    // 0 = unlimited (until FinishOnKey or Timeout)
	Timeout     int    // seconds of silence; 0 = Twilio's default (5)
	Language    string // speech recognition language
	Hints       string // speech recognition hints
	// ActionOnEmptyResult makes Twilio post to Action even without input;
	// otherwise it continues with the verbs after <Gather>.
	ActionOnEmptyResult bool
	Prompt              []Verb // Say, Play and Pause only
}

// Enqueue puts the call in a TaskRouter queue (WorkflowSid) or a plain
// Twilio queue (Name).
type Enqueue struct {
	WorkflowSid    string // WW…; makes TaskRouter create a Task for the call
	Name           string // queue name; optional with WorkflowSid
	WaitURL        string // TwiML or audio played while waiting
	WaitURLMethod  string // "" = POST
	Action         string // called when the call leaves the queue
	Method         string // method for Action; "" = POST
	TaskAttributes string // a JSON object: the Task's attributes
	Priority       int    // Task priority; 0 = workflow's default
	Timeout        int    // Task timeout in seconds; 0 = default
}

// Dial connects the call to exactly one of Conference, Number, Client, Sip
// or Queue.
type Dial struct {
	CallerID       string
	Action         string // called when the dialed party hangs up
	Method         string // method for Action; "" = POST
	Timeout        int    // seconds to ring; 0 = Twilio's default (30)
	TimeLimit      int    // maximum call length in seconds; 0 = default (4 h)
	AnswerOnBridge bool   // keep the caller ringing until the dialed party answers
	HangupOnStar   bool
	Record         string // e.g. "record-from-answer"; "" = no recording

	Conference *Conference
	Number     string // E.164 phone number
	Client     string // Twilio Client identity (without "client:")
	Sip        string // sip: URI
	Queue      string // queue name
}

// Conference joins a named conference room inside a Dial.
type Conference struct {
	Name  string
	Muted bool
	Beep  string // "", "true", "false", "onEnter", "onExit"
	// Coach is the call SID of the participant this one coaches (whispers to).
	Coach            string
	ParticipantLabel string
	// WaitURL plays while the conference has not started. twilio-go omits
	// empty attributes, so "" means Twilio's default hold music; for silence
	// point it at TwiML that only pauses.
	WaitURL                string
	WaitMethod             string
	StatusCallback         string
	StatusCallbackMethod   string
	StatusCallbackEvent    string // space-separated: start end join leave mute hold modify speaker announcement
	StartConferenceOnEnter *bool  // nil = Twilio's default (true)
	EndConferenceOnExit    *bool  // nil = Twilio's default (false)
	MaxParticipants        int    // 0 = default (250)
	Record                 string // "record-from-start" or "do-not-record"
	Region                 string
	JitterBufferSize       string
}

// Redirect continues the call with the TwiML at URL.
type Redirect struct {
	URL    string
	Method string // "" = POST
}

// Hangup ends the call.
type Hangup struct{}

// Reject refuses an incoming call without answering it (no charge).
type Reject struct {
	Reason string // "rejected" (default) or "busy"
}

func (Say) verb()      {}
func (Play) verb()     {}
func (Pause) verb()    {}
func (Gather) verb()   {}
func (Enqueue) verb()  {}
func (Dial) verb()     {}
func (Redirect) verb() {}
func (Hangup) verb()   {}
func (Reject) verb()   {}

// RenderTwiML renders verbs as a TwiML <Response> document with twilio-go's
// twiml package. It fails on verbs Twilio would reject (missing text or URL,
// a Dial without exactly one target, invalid task attributes ...), so that a
// broken flow is caught here rather than by a caller hearing an application
// error.
func RenderTwiML(verbs ...Verb) (string, error) {
	elems := make([]twiml.Element, 0, len(verbs))
	for i, v := range verbs {
		el, err := element(v, false)
		if err != nil {
			return "", fmt.Errorf("twiml: verb %d: %w", i+1, err)
		}
		elems = append(elems, el)
	}
	return twiml.Voice(elems)
}

// itoa renders optional integers: 0 means "leave Twilio's default".
func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func loop(n int) string {
	if n < 0 {
		return "0" // Twilio's "forever"
	}
	return itoa(n)
}

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return ""
}

func optBool(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func element(v Verb, inGather bool) (twiml.Element, error) {
	if inGather {
		switch v.(type) {
		case Say, *Say, Play, *Play, Pause, *Pause:
		default:
			return nil, fmt.Errorf("gather prompt may only hold Say, Play and Pause, not %T", v)
		}
	}
	switch v := v.(type) {
	case *Say:
		return element(*v, inGather)
	case *Play:
		return element(*v, inGather)
	case *Pause:
		return element(*v, inGather)
	case *Gather:
		return element(*v, inGather)
	case *Enqueue:
		return element(*v, inGather)
	case *Dial:
		return element(*v, inGather)
	case *Redirect:
		return element(*v, inGather)
	case *Hangup:
		return element(*v, inGather)
	case *Reject:
		return element(*v, inGather)

	case Say:
		if v.Text == "" {
			return nil, errors.New("say: empty text")
		}
		return twiml.VoiceSay{Message: v.Text, Voice: v.Voice, Language: v.Language, Loop: loop(v.Loop)}, nil
	case Play:
		if v.URL == "" {
			return nil, errors.New("play: empty URL")
		}
		return twiml.VoicePlay{Url: v.URL, Loop: loop(v.Loop)}, nil
	case Pause:
		if v.Length < 0 {
			return nil, errors.New("pause: negative length")
		}
		return twiml.VoicePause{Length: itoa(v.Length)}, nil
	case Gather:
		g := twiml.VoiceGather{
			Action:      v.Action,
			Method:      v.Method,
			Input:       v.Input,
			FinishOnKey: v.FinishOnKey,
			NumDigits:   itoa(v.NumDigits),
			Timeout:     itoa(v.Timeout),
			Language:    v.Language,
			Hints:       v.Hints,
		}
		if v.ActionOnEmptyResult {
			g.ActionOnEmptyResult = "true"
		}
		for _, p := range v.Prompt {
			el, err := element(p, true)
			if err != nil {
				return nil, err
			}
			g.InnerElements = append(g.InnerElements, el)
		}
		return g, nil
	case Enqueue:
		if v.WorkflowSid == "" && v.Name == "" {
			return nil, errors.New("enqueue: needs a workflow SID or a queue name")
		}
		e := twiml.VoiceEnqueue{
			Name:          v.Name,
			WorkflowSid:   v.WorkflowSid,
			WaitUrl:       v.WaitURL,
			WaitUrlMethod: v.WaitURLMethod,
			Action:        v.Action,
			Method:        v.Method,
		}
		if v.TaskAttributes != "" || v.Priority != 0 || v.Timeout != 0 {
			if v.WorkflowSid == "" {
				return nil, errors.New("enqueue: task attributes, priority and timeout need a workflow SID")
			}
			if v.TaskAttributes != "" {
				var obj map[string]any
				if err := json.Unmarshal([]byte(v.TaskAttributes), &obj); err != nil || obj == nil {
					return nil, errors.New("enqueue: task attributes are not a JSON object")
				}
			}
			e.InnerElements = []twiml.Element{twiml.VoiceTask{
				Body:     v.TaskAttributes,
				Priority: itoa(v.Priority),
				Timeout:  itoa(v.Timeout),
			}}
		}
		return e, nil
	case Dial:
		d := twiml.VoiceDial{
			CallerId:       v.CallerID,
			Action:         v.Action,
			Method:         v.Method,
			Timeout:        itoa(v.Timeout),
			TimeLimit:      itoa(v.TimeLimit),
			AnswerOnBridge: boolAttr(v.AnswerOnBridge),
			HangupOnStar:   boolAttr(v.HangupOnStar),
			Record:         v.Record,
		}
		var targets []twiml.Element
		if c := v.Conference; c != nil {
			el, err := conference(*c)
			if err != nil {
				return nil, err
			}
			targets = append(targets, el)
		}
		if v.Number != "" {
			targets = append(targets, twiml.VoiceNumber{PhoneNumber: v.Number})
		}
		if v.Client != "" {
			targets = append(targets, twiml.VoiceClient{Identity: v.Client})
		}
		if v.Sip != "" {
			targets = append(targets, twiml.VoiceSip{SipUrl: v.Sip})
		}
		if v.Queue != "" {
			targets = append(targets, twiml.VoiceQueue{Name: v.Queue})
		}
		if len(targets) != 1 {
			return nil, fmt.Errorf("dial: needs exactly one of conference, number, client, sip, queue (has %d)", len(targets))
		}
		d.InnerElements = targets
		return d, nil
	case Redirect:
		if v.URL == "" {
			return nil, errors.New("redirect: empty URL")
		}
		return twiml.VoiceRedirect{Url: v.URL, Method: v.Method}, nil
	case Hangup:
		return twiml.VoiceHangup{}, nil
	case Reject:
		switch v.Reason {
		case "", "rejected", "busy":
		default:
			return nil, fmt.Errorf("reject: reason %q is not rejected or busy", v.Reason)
		}
		return twiml.VoiceReject{Reason: v.Reason}, nil
	case nil:
		return nil, errors.New("nil verb")
	}
	return nil, fmt.Errorf("unknown verb %T", v)
}

func conference(c Conference) (twiml.Element, error) {
	if c.Name == "" {
		return nil, errors.New("conference: empty name")
	}
	switch c.Beep {
	case "", "true", "false", "onEnter", "onExit":
	default:
		return nil, fmt.Errorf("conference: beep %q is not true, false, onEnter or onExit", c.Beep)
	}
	return twiml.VoiceConference{
		Name:                   c.Name,
		Muted:                  boolAttr(c.Muted),
		Beep:                   c.Beep,
		Coach:                  c.Coach,
		ParticipantLabel:       c.ParticipantLabel,
		WaitUrl:                c.WaitURL,
		WaitMethod:             c.WaitMethod,
		StatusCallback:         c.StatusCallback,
		StatusCallbackMethod:   c.StatusCallbackMethod,
		StatusCallbackEvent:    c.StatusCallbackEvent,
		StartConferenceOnEnter: optBool(c.StartConferenceOnEnter),
		EndConferenceOnExit:    optBool(c.EndConferenceOnExit),
		MaxParticipants:        itoa(c.MaxParticipants),
		Record:                 c.Record,
		Region:                 c.Region,
		JitterBufferSize:       c.JitterBufferSize,
	}, nil
}
