package engine

import (
	"encoding/base64"
	"time"

	"github.com/flowd/flowd/engine/internal/jsonw"
)

// Hand-written JSON encoders for what every event writes: the session's
// facts and its history entry. They write exactly what encoding/json.Marshal
// writes for these types (TestEncodersMatchEncodingJSON holds them to it),
// at a fraction of the cost: reflection-driven encoding was about a third
// of Handle. A field added to one of these structs must be added here too;
// the test fails until it is.

func (d *sessionData) appendJSON(b []byte) ([]byte, error) {
	var err error
	o := jsonw.Begin(b)
	o.String("call_sid", d.CallSid, false)
	if err = o.Map("call", d.Call, true); err != nil {
		return o.B, err
	}
	o.String("task_sid", d.TaskSid, true)
	if len(d.Tasks) > 0 {
		o.Field("tasks")
		if o.B, err = jsonw.MapOf(o.B, d.Tasks, appendTaskFacts); err != nil {
			return o.B, err
		}
	}
	if err = o.Map("worker", d.Worker, true); err != nil {
		return o.B, err
	}
	o.String("conference_sid", d.ConferenceSid, true)
	o.String("conference_name", d.ConferenceName, true)
	o.Int("conference_seq", d.ConferenceSeq, true)
	o.Bool("conference_up", d.ConferenceUp, true)
	if len(d.Roles) > 0 {
		o.Field("roles")
		o.B, _ = jsonw.MapOf(o.B, d.Roles, appendParticipantFacts)
	}
	o.StringMap("left", d.Left, true)
	o.StringMap("removed", d.Removed, true)
	o.StringMap("withdrawn", d.Withdrawn, true)
	if err = o.Map("vars", d.Vars, true); err != nil {
		return o.B, err
	}
	o.StringMap("whisper", d.Whisper, true)
	if len(d.JoinMuted) > 0 {
		o.Field("join_muted")
		o.B, _ = jsonw.MapOf(o.B, d.JoinMuted, func(b []byte, v bool) ([]byte, error) { return jsonw.Bool(b, v), nil })
	}
	if len(d.Announcements) > 0 {
		o.Field("announcements")
		o.B = jsonw.Array(o.B, len(d.Announcements), func(b []byte, i int) []byte {
			a := &d.Announcements[i]
			ao := jsonw.Begin(b)
			ao.String("text", a.Text, false)
			ao.String("voice", a.Voice, true)
			ao.String("language", a.Language, true)
			return ao.End()
		})
	}
	o.Int("op_seq", int64(d.OpSeq), true)
	return o.End(), nil
}

func appendTaskFacts(b []byte, t *taskFacts) ([]byte, error) {
	if t == nil {
		return append(b, "null"...), nil
	}
	o := jsonw.Begin(b)
	if err := o.Map("attributes", t.Attributes, true); err != nil {
		return o.B, err
	}
	o.String("status", t.Status, true)
	o.String("reservation", t.Reservation, true)
	o.Bool("reservation_pending", t.ReservationPending, true)
	o.String("worker_sid", t.WorkerSid, true)
	o.String("role", t.Role, true)
	o.Bool("linked", t.Linked, true)
	o.String("queue_sid", t.QueueSid, true)
	o.Bool("assigned", t.Assigned, true)
	o.String("workflow_sid", t.WorkflowSid, true)
	o.Int("priority", int64(t.Priority), true)
	if !t.CreatedAt.IsZero() {
		o.String("created_at", t.CreatedAt.Format(time.RFC3339Nano), false)
	}
	return o.End(), nil
}

func appendParticipantFacts(b []byte, p *participantFacts) ([]byte, error) {
	if p == nil {
		return append(b, "null"...), nil
	}
	o := jsonw.Begin(b)
	o.String("call_sid", p.CallSid, false)
	o.String("label", p.Label, true)
	o.String("address", p.Address, true)
	o.String("task_sid", p.TaskSid, true)
	o.Bool("joined", p.Joined, false)
	o.Bool("hold", p.Hold, false)
	o.Bool("muted", p.Muted, false)
	o.Bool("coaching", p.Coaching, false)
	o.Int("seq", p.Seq, true)
	o.String("coach_role", p.CoachRole, true)
	o.Bool("called", p.Called, true)
	return o.End(), nil
}

func (rec *record) appendJSON(b []byte) ([]byte, error) {
	var err error
	o := jsonw.Begin(b)
	o.String("event", rec.Event, false)
	o.String("source", string(rec.Source), false)
	if err = o.Map("fields", rec.Fields, true); err != nil {
		return o.B, err
	}
	if err = o.Map("params", rec.Params, true); err != nil {
		return o.B, err
	}
	o.Int("sequence", rec.Sequence, true)
	o.String("stale", rec.Stale, true)
	if len(rec.Guards) > 0 {
		o.Field("guards")
		o.B = jsonw.Array(o.B, len(rec.Guards), func(b []byte, i int) []byte {
			g := &rec.Guards[i]
			gw := jsonw.Begin(b)
			gw.String("if", g.If, false)
			gw.Int("line", int64(g.Line), false)
			gw.Bool("result", g.Result, false)
			gw.String("error", g.Error, true)
			return gw.End()
		})
	}
	o.String("from", rec.From, true)
	o.String("to", rec.To, true)
	o.Bool("internal", rec.Internal, true)
	o.Int("line", int64(rec.Line), true)
	o.Bool("unhandled", rec.Unhandled, true)
	if len(rec.Actions) > 0 {
		o.Field("actions")
		o.B = jsonw.Array(o.B, len(rec.Actions), func(b []byte, i int) []byte {
			a := &rec.Actions[i]
			ao := jsonw.Begin(b)
			ao.String("action", a.Action, false)
			ao.String("where", a.Where, false)
			ao.Int("line", int64(a.Line), false)
			ao.String("error", a.Error, true)
			return ao.End()
		})
	}
	o.String("reply", rec.Reply, true)
	if len(rec.Warnings) > 0 {
		o.Field("warnings")
		o.B = jsonw.Strings(o.B, rec.Warnings)
	}
	return o.End(), nil
}

// appendJSON writes the reply as stored with an idempotency key (Body in
// base64, as encoding/json writes a []byte).
func (r *Reply) appendJSON(b []byte) []byte {
	o := jsonw.Begin(b)
	o.String("kind", string(r.Kind), false)
	if len(r.Body) > 0 {
		o.Field("body")
		o.B = append(o.B, '"')
		o.B = base64.StdEncoding.AppendEncode(o.B, r.Body)
		o.B = append(o.B, '"')
	}
	o.String("session", r.Session, true)
	o.String("state", r.State, true)
	o.String("request", r.Request, true)
	return o.End()
}
