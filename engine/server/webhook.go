package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/twilio"
)

// IdempotencyTokenHeader is the header Twilio repeats on every retry of one
// webhook delivery.
const IdempotencyTokenHeader = "I-Twilio-Idempotency-Token"

// ReplayedHeader marks an answer replayed for a repeated idempotency token
// or Idempotency-Key (informative; Twilio ignores it).
const ReplayedHeader = "Idempotent-Replayed"

// pathTwiML serves every TwiML document kind flowd hands out
// (engine.PathTwiMLJoin, engine.PathTwiMLAnnounce).
const pathTwiML = "/twilio/twiml/:kind"

// documentKinds are the kinds engine.Document renders, taken from the
// engine's own callback paths so the two cannot drift apart.
var documentKinds = map[string]bool{
	path.Base(engine.PathTwiMLJoin):     true,
	path.Base(engine.PathTwiMLAnnounce): true,
}

const (
	formKey    = "flowd.form"
	twimlType  = "text/xml; charset=utf-8"
	textType   = "text/plain; charset=utf-8"
	jsonType   = "application/json"
	formType   = "application/x-www-form-urlencoded"
	notService = "The number you have called is not in service."
)

var errTooLarge = errors.New("request body too large")

// readBody reads the whole body once (the signature needs the raw bytes)
// under limit.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	r := c.Request
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body := http.MaxBytesReader(c.Writer, r.Body, limit)
	var b []byte
	var err error
	if r.ContentLength >= 0 {
		// The usual case: one exact allocation, no growing.
		b = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, b)
	} else {
		b, err = io.ReadAll(body)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, err
	}
	return b, nil
}

// twilioRequest authenticates a Twilio webhook and parses its form from the
// bytes that were signed. Order matters: a missing signature is refused
// before anything is read, an oversize body before it is parsed (413), and
// the signature is checked before anything else is said: a wrong one is 403
// whatever the body, and only a signed request learns that its body is not
// a form (415) or a malformed one (400, with the reason).
func (s *Server) twilioRequest(c *gin.Context) {
	info := infoOf(c)
	if s.validator == nil {
		info.warn = s.noAuth
		c.Data(http.StatusServiceUnavailable, textType, []byte(s.noAuth+"\n"))
		c.Abort()
		return
	}
	sig := c.GetHeader(twilio.SignatureHeader)
	if sig == "" {
		s.forbid(c, twilio.ErrNoSignature)
		return
	}
	body, err := readBody(c, s.maxTwilio)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			s.plain(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over %d bytes", s.maxTwilio))
			return
		}
		s.plain(c, http.StatusBadRequest, "could not read the request body: "+err.Error())
		return
	}
	ct := c.GetHeader("Content-Type")
	// A body flowd cannot take (not a form, or a malformed one) is
	// refused with its reason only once the signature holds: Twilio never
	// sends one, and an unsigned request learns nothing but 403.
	var refuse int
	var reason string
	var form url.Values
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead:
		form = c.Request.URL.Query()
	default:
		if len(body) > 0 && !isForm(ct) {
			got := ct
			if got == "" {
				got = "no Content-Type"
			}
			refuse, reason = http.StatusUnsupportedMediaType, "want "+formType+", got "+got
		} else if form, err = url.ParseQuery(string(body)); err != nil {
			// form holds the pairs that parsed: a signature over them
			// is checked as for any form.
			refuse, reason = http.StatusBadRequest, "malformed form body: "+err.Error()
		}
	}
	uri := c.Request.RequestURI
	if !strings.HasPrefix(uri, "/") {
		// Not served by net/http (handler called directly) or an
		// absolute-form request line: rebuild path and query.
		uri = c.Request.URL.RequestURI()
	}
	// A form POST is checked over the form already parsed (no second parse
	// of the body); everything else through the general check. Both use
	// twilio-go's RequestValidator.
	var err2 error
	if c.Request.Method == http.MethodPost && (len(body) == 0 || isForm(ct)) && !strings.Contains(uri, "bodySHA256=") {
		err2 = s.validator.CheckForm(uri, form, sig)
	} else {
		err2 = s.validator.Check(c.Request.Method, uri, body, ct, sig)
	}
	if err2 != nil {
		s.forbid(c, err2)
		return
	}
	if refuse != 0 {
		s.plain(c, refuse, reason)
		return
	}
	c.Set(formKey, form)
	c.Next()
}

func isForm(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), formType)
}

func (s *Server) forbid(c *gin.Context, err error) {
	s.metrics.signatureFailures.Inc()
	info := infoOf(c)
	info.warn = err.Error()
	if s.urlPassword != "" {
		info.warn = strings.ReplaceAll(info.warn, s.urlPassword, "xxxxx")
	}
	// The log has the URL that was checked; the client only learns that it
	// failed.
	msg := "missing X-Twilio-Signature"
	if !errors.Is(err, twilio.ErrNoSignature) {
		msg = "X-Twilio-Signature does not match this request"
	}
	c.Data(http.StatusForbidden, textType, []byte(msg+"\n"))
	c.Abort()
}

// plain answers a Twilio route with a text reason and logs it as a warning.
func (s *Server) plain(c *gin.Context, status int, msg string) {
	infoOf(c).warn = msg
	c.Data(status, textType, []byte(msg+"\n"))
	c.Abort()
}

func formOf(c *gin.Context) url.Values {
	v, _ := c.Get(formKey)
	f, _ := v.(url.Values)
	return f
}

// tokenOf is the request's idempotency key: Twilio's token, scoped to the
// route, to the SIDs the request is about and to the request's signature.
// Twilio repeats the token only on a retry of the same request: the same
// route, SIDs, URL and parameters, so the same X-Twilio-Signature (an HMAC
// of exactly those). The token header is not signed, so a token reused on
// another route, for another call or with other parameters (a different
// callback carrying a stale token) is another request: it runs, instead of
// being answered with the first one's reply and dropped.
func tokenOf(c *gin.Context) string {
	token := c.GetHeader(IdempotencyTokenHeader)
	if token == "" {
		return ""
	}
	i := infoOf(c)
	return "tw:" + c.FullPath() + ":" + i.call + "," + i.task + "," + i.reservation + "," + i.conference + ":" + token +
		":" + c.GetHeader(twilio.SignatureHeader)
}

// badForm answers a form Twilio parse functions refused.
func (s *Server) badForm(c *gin.Context, err error) {
	var fe *twilio.FormError
	if errors.As(err, &fe) {
		s.plain(c, http.StatusBadRequest, fe.Error())
		return
	}
	s.plain(c, http.StatusBadRequest, err.Error())
}

// handle runs an event with a deadline and notes the outcome for the log.
func (s *Server) handle(c *gin.Context, timeout time.Duration, ev engine.Event) (engine.Reply, error) {
	info := infoOf(c)
	info.event = ev.Name
	ctx, cancel := handleContext(c, timeout)
	defer cancel()
	reply, err := s.eng.Handle(ctx, ev)
	if err == nil {
		info.session, info.state, info.duplicate = reply.Session, reply.State, reply.Duplicate
		if reply.Duplicate {
			c.Header(ReplayedHeader, "true")
		}
	}
	if errors.Is(err, context.DeadlineExceeded) && c.Request.Context().Err() == nil {
		err = fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	return reply, err
}

// unknown answers 200 for a callback about a call flowd does not know:
// any error status would make Twilio retry something that cannot succeed.
func (s *Server) unknown(c *gin.Context, err error, what string) {
	infoOf(c).warn = what + ": " + err.Error()
	c.Status(http.StatusOK)
}

func (s *Server) internal(c *gin.Context, err error) {
	if c.Request.Context().Err() != nil {
		// The client hung up first: nobody reads this answer.
		infoOf(c).warn = "client went away: " + err.Error()
	} else {
		infoOf(c).err = err
	}
	c.Data(http.StatusInternalServerError, textType, []byte("internal error\n"))
}

func (s *Server) twiml(c *gin.Context, doc []byte) {
	if len(doc) == 0 {
		doc = s.docs.empty
	}
	c.Data(http.StatusOK, twimlType, doc)
}

// voice serves incoming calls and <Gather> results.
func (s *Server) voice(gather bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		r, err := twilio.ParseVoice(formOf(c))
		if err != nil {
			s.badForm(c, err)
			return
		}
		info := infoOf(c)
		info.call = r.CallSid
		reply, err := s.handle(c, webhookTimeout, engine.VoiceEvent(r, gather, c.Query("session"), tokenOf(c)))
		switch {
		case err == nil:
			s.twiml(c, reply.Body)
		case errors.Is(err, engine.ErrNoFlow):
			info.warn = fmt.Sprintf("no flow answers %s: the caller hears that the number is not in service", r.To)
			s.twiml(c, s.docs.notInService)
		case errors.Is(err, engine.ErrUnknownSession):
			// A gather result for a call flowd forgot: end it cleanly.
			info.warn = "voice webhook for an unknown call: " + err.Error()
			s.twiml(c, s.docs.hangup)
		default:
			s.internal(c, err)
		}
	}
}

// callStatus serves call status callbacks: 204.
func (s *Server) callStatus(c *gin.Context) {
	r, err := twilio.ParseCallStatus(formOf(c))
	if err != nil {
		s.badForm(c, err)
		return
	}
	infoOf(c).call = r.CallSid
	_, err = s.handle(c, webhookTimeout, engine.CallStatusEvent(r, c.Query("session"), c.Query("role"), c.Query("label"), tokenOf(c)))
	s.noContent(c, err, "call status for an unknown call")
}

// assignment serves TaskRouter's assignment callback: the instruction as
// JSON, or an empty 200 ("I will answer later by REST").
func (s *Server) assignment(c *gin.Context) {
	a, err := twilio.ParseAssignment(formOf(c))
	if err != nil {
		s.badForm(c, err)
		return
	}
	info := infoOf(c)
	info.task, info.reservation = a.TaskSid, a.ReservationSid
	reply, err := s.handle(c, assignmentTimeout, engine.AssignmentEvent(a, tokenOf(c)))
	switch {
	case err == nil:
		if reply.Kind == engine.ReplyInstruction && len(reply.Body) > 0 {
			c.Data(http.StatusOK, jsonType, reply.Body)
			return
		}
		c.Status(http.StatusOK)
	case errors.Is(err, engine.ErrUnknownSession):
		// Empty 200: not ours to accept or reject (a shared workspace).
		s.unknown(c, err, "assignment for an unknown task")
	default:
		s.internal(c, err)
	}
}

// workspaceEvent serves TaskRouter workspace events: 204.
func (s *Server) workspaceEvent(c *gin.Context) {
	w, err := twilio.ParseWorkspaceEvent(formOf(c))
	if err != nil {
		s.badForm(c, err)
		return
	}
	info := infoOf(c)
	info.task, info.reservation = w.TaskSid, w.ReservationSid
	ev, ok := engine.WorkspaceEventOf(w, tokenOf(c))
	if !ok {
		info.event = w.EventType
		c.Status(http.StatusNoContent)
		return
	}
	_, err = s.handle(c, webhookTimeout, ev)
	s.noContent(c, err, "workspace event for an unknown task")
}

// conferenceStatus serves conference status callbacks: 204.
func (s *Server) conferenceStatus(c *gin.Context) {
	ce, err := twilio.ParseConferenceEvent(formOf(c))
	if err != nil {
		s.badForm(c, err)
		return
	}
	info := infoOf(c)
	info.conference, info.call = ce.ConferenceSid, ce.CallSid
	ev, ok := engine.ConferenceEventOf(ce, c.Query("session"), tokenOf(c))
	if !ok {
		info.event = ce.StatusCallbackEvent
		c.Status(http.StatusNoContent)
		return
	}
	_, err = s.handle(c, webhookTimeout, ev)
	s.noContent(c, err, "conference callback for an unknown call")
}

func (s *Server) noContent(c *gin.Context, err error, unknownWhat string) {
	switch {
	case err == nil:
		c.Status(http.StatusNoContent)
	case errors.Is(err, engine.ErrUnknownSession):
		s.unknown(c, err, unknownWhat)
	default:
		s.internal(c, err)
	}
}

// document serves TwiML flowd generated and handed to Twilio as a URL.
func (s *Server) document(c *gin.Context) {
	kind := c.Param("kind")
	if !documentKinds[kind] {
		s.plain(c, http.StatusNotFound, fmt.Sprintf("no TwiML document %q", kind))
		return
	}
	q := c.Request.URL.Query()
	info := infoOf(c)
	info.session, info.event = q.Get("session"), "twiml."+kind
	if f := formOf(c); f != nil {
		info.call = f.Get("CallSid")
	}
	ctx, cancel := handleContext(c, webhookTimeout)
	defer cancel()
	doc, err := s.eng.Document(ctx, kind, q)
	switch {
	case err == nil:
		s.twiml(c, []byte(doc))
	case errors.Is(err, engine.ErrUnknownSession):
		info.warn = "TwiML for an unknown call: " + err.Error()
		s.twiml(c, s.docs.hangup)
	case errors.Is(err, engine.ErrBadDocument):
		info.warn = err.Error()
		s.plain(c, http.StatusBadRequest, err.Error())
	default:
		s.internal(c, err)
	}
}

// docs are the fixed TwiML documents the server answers with itself.
type docs struct {
	empty, hangup, notInService []byte
}

func renderDocs() (docs, error) {
	var d docs
	for _, x := range []struct {
		dst   *[]byte
		verbs []twilio.Verb
	}{
		{&d.empty, nil},
		{&d.hangup, []twilio.Verb{twilio.Hangup{}}},
		{&d.notInService, []twilio.Verb{twilio.Say{Text: notService}, twilio.Hangup{}}},
	} {
		doc, err := twilio.RenderTwiML(x.verbs...)
		if err != nil {
			return d, err
		}
		*x.dst = []byte(doc)
	}
	return d, nil
}
