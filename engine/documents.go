package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
)

// Document renders a TwiML document Twilio fetches from a URL flowd handed
// it: "join" (a role's leg joins the call's conference, after its whisper),
// "announce" (text played to one participant). Fetching changes nothing.
// A worker's leg that answers after the caller hung up is told so and hung
// up instead of joining.
func (e *Engine) Document(ctx context.Context, kind string, q url.Values) (string, error) {
	sessionID := q.Get("session")
	if sessionID == "" {
		return "", fmt.Errorf("%w: no session in the URL", ErrUnknownSession)
	}
	sess, err := e.cfg.Store.Get(ctx, sessionID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", ErrUnknownSession
		}
		return "", err
	}
	d, err := decodeSessionData(sess.Data)
	if err != nil {
		return "", err
	}
	switch kind {
	case "join":
		role := q.Get("role")
		if role == "" {
			role = flow.RoleAgent
		}
		if _, left := d.Left[d.CallSid]; role != flow.RoleCustomer && (sess.Final || left) {
			// The caller hung up while this leg rang: joining would leave
			// the worker alone in a new conference of the same name.
			return twilio.RenderTwiML(twilio.Say{Text: "The caller has hung up."}, twilio.Hangup{})
		}
		if label := q.Get("label"); label != "" && role != flow.RoleCustomer && d.roleOfLabel(label) == "" {
			// flowd withdrew this leg while it rang (a transfer canceled,
			// a role given to another leg): it must not join the call.
			return twilio.RenderTwiML(twilio.Say{Text: "This call is no longer needed. Goodbye."}, twilio.Hangup{})
		}
		var verbs []twilio.Verb
		if w := d.Whisper[role]; w != "" {
			verbs = append(verbs, twilio.Say{Text: w})
		}
		name := d.ConferenceName
		if name == "" {
			name = d.TaskSid
		}
		if name == "" {
			return "", fmt.Errorf("%w: session %s has no conference to join", ErrBadDocument, sessionID)
		}
		label := role
		if p := d.Roles[role]; p != nil && p.Label != "" {
			label = p.Label
		}
		verbs = append(verbs, twilio.Dial{Conference: &twilio.Conference{
			Name: name, ParticipantLabel: label, Muted: d.JoinMuted[role], Beep: "false",
			StartConferenceOnEnter: ptr(true),
			// The customer's leg ends the conference; agents' legs do not,
			// so transfers keep the caller (TWILIO.md traps).
			EndConferenceOnExit: ptr(role == flow.RoleCustomer),
			StatusCallback:      e.callbackURL(PathConferenceStatus, url.Values{"session": {sessionID}}),
			StatusCallbackEvent: strings.Join(conferenceEvents, " "),
		}})
		return twilio.RenderTwiML(verbs...)
	case "announce":
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 || n >= len(d.Announcements) {
			return "", fmt.Errorf("%w: session %s has no announcement %q", ErrBadDocument, sessionID, q.Get("n"))
		}
		a := d.Announcements[n]
		return twilio.RenderTwiML(twilio.Say{Text: a.Text, Voice: a.Voice, Language: a.Language})
	}
	return "", fmt.Errorf("%w: unknown kind %q", ErrBadDocument, kind)
}
