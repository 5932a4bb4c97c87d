package twilio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
)

// Twilio error codes flowd reacts to (https://www.twilio.com/docs/api/errors).
const (
	CodeNotFound            = 20404 // the resource does not exist (any more)
	CodeCallNotInProgress   = 21220 // call.update on a call that already ended
	CodeDuplicateLabel      = 16026 // Participants API create: a participant with this label is already in the conference
	CodeDuplicateLabelTwiML = 16025 // the same for <Dial><Conference participantLabel>; accepted too (below)
	CodeCoachNotFound       = 13240 // CallSidToCoach is wrong or has left
	// An instruction on a reservation no longer pending, one code per
	// instruction (Twilio's error catalogue).
	CodeReservationNotPending         = 40144 // conference
	CodeReservationNotPending2        = 40136 // conference too
	CodeReservationNotPendingCall     = 40114 // call
	CodeReservationNotPendingRedirect = 40123 // redirect
	CodeReservationNotPendingDequeue  = 40135 // dequeue
)

// Error is a failed REST operation. Temporary tells the outbox whether
// sending the same op again later can succeed.
type Error struct {
	Op         OpKind
	Status     int           // HTTP status; 0 when no response arrived
	Code       int           // Twilio error code, 0 if none
	Message    string        // Twilio's message, or what went wrong locally
	MoreInfo   string        // Twilio's documentation link for Code
	RetryAfter time.Duration // from the Retry-After header, 0 if absent
	Temporary  bool          // 429, 5xx, timeouts and other network errors
	Err        error         // the underlying error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "twilio %s:", e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, " HTTP %d", e.Status)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " code %d", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap gives access to the cause (a *client.TwilioRestError, a network
// error, a context error).
func (e *Error) Unwrap() error { return e.Err }

// IsTemporary reports whether err is worth retrying later: a *Error with
// Temporary set, or a context/network error not yet wrapped.
func IsTemporary(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary
	}
	return err != nil && isNetworkError(err)
}

// IsGone reports whether err says the participant, call or conference the op
// was aimed at no longer exists (HTTP 404 / 20404), or the call has already
// ended (21220). The engine treats e.g. deleting a departed participant as done.
func IsGone(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Status == http.StatusNotFound || e.Code == CodeNotFound || e.Code == CodeCallNotInProgress
}

// IsDuplicateLabel reports error 16026: a participant with that label is
// already in the conference, so a re-sent create has in fact been done.
// Twilio's catalogue gives 16026 for a Participants API create and 16025
// for the same clash in <Dial><Conference>; both are accepted, so that a
// create answered with either counts as done.
func IsDuplicateLabel(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == CodeDuplicateLabel || e.Code == CodeDuplicateLabelTwiML)
}

// IsReservationNotPending reports errors 40144, 40136, 40114, 40123 and
// 40135: the reservation was
// already accepted, rejected, timed out or canceled (e.g. the caller hung up),
// so answering it again is moot.
func IsReservationNotPending(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case CodeReservationNotPending, CodeReservationNotPending2, CodeReservationNotPendingCall,
		CodeReservationNotPendingRedirect, CodeReservationNotPendingDequeue:
		return true
	}
	return false
}

// classify turns what twilio-go returned into an *Error. status and header are
// those of the HTTP response as captured by the transport (0/nil if none):
// twilio-go drops the response on non-2xx, and its error only carries the
// status written in the JSON body.
func classify(kind OpKind, err error, status int, header http.Header) *Error {
	e := &Error{Op: kind, Status: status, Err: err}
	var rest *client.TwilioRestError
	var restV1 *client.RestErrorV1
	switch {
	case errors.As(err, &rest):
		e.Code, e.Message, e.MoreInfo = rest.Code, rest.Message, rest.MoreInfo
		if e.Status == 0 {
			e.Status = rest.Status
		}
	case errors.As(err, &restV1):
		e.Code, e.Message = restV1.Code, restV1.Message
		if e.Status == 0 {
			e.Status = restV1.HttpStatusCode
		}
	default:
		e.Message = err.Error()
	}
	if header != nil {
		e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
	}
	switch {
	case e.Status == http.StatusTooManyRequests || e.Status >= 500:
		e.Temporary = true
	case e.Status >= 400:
		e.Temporary = false
	case e.Status == 0:
		// No response: the request may not have reached Twilio. Local
		// failures (bad credentials, unparsable URL) are permanent.
		e.Temporary = rest == nil && restV1 == nil && isNetworkError(err)
	default:
		// A 2xx/3xx whose body could not be decoded: Twilio probably did
		// the work, so sending again would not help.
		e.Temporary = false
	}
	return e
}

func isNetworkError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}
