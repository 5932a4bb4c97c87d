package engine

import (
	"maps"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/twilio"
)

// applyFacts updates what the session knows from the event, fills the
// event's derived fields (event.role, event.transfer, …) and reports why the
// event is stale ("" when it is not).
func (r *run) applyFacts() string {
	ev, d := r.ev, r.d
	if ev.Fields == nil {
		// Sized for what the facts below add, so the map never grows.
		ev.Fields = make(map[string]any, 8)
	}
	ev.Fields["name"] = ev.Name
	if d.Call == nil {
		d.Call = make(map[string]any, len(ev.Call)+1)
	}
	if ev.Call != nil && (ev.CallSid == "" || ev.CallSid == d.CallSid) {
		maps.Copy(d.Call, ev.Call)
	}
	if d.CallSid != "" {
		d.Call["sid"] = d.CallSid
	}
	if ev.TaskSid != "" {
		t, known := d.Tasks[ev.TaskSid]
		if !known {
			t = d.task(ev.TaskSid)
			if s, _ := ev.TaskAttributes["flowd_session"].(string); s != "" && ev.TaskSid != d.TaskSid {
				if _, fromEnqueue := ev.TaskAttributes["flowd_role"]; fromEnqueue {
					t.Linked = true
					t.Role, _ = ev.TaskAttributes["flowd_role"].(string)
				}
			}
			if !t.Linked && d.TaskSid == "" {
				// The <Enqueue>d task adopts the session.
				d.TaskSid = ev.TaskSid
			}
		}
		d.applyTaskAttributes(ev.TaskSid, ev.TaskAttributes)
		rep := &ev.Task
		if rep.QueueSid != "" {
			t.QueueSid = rep.QueueSid
		}
		if rep.WorkflowSid != "" {
			t.WorkflowSid = rep.WorkflowSid
		}
		if rep.HasNumbers {
			t.Priority = rep.Priority
			t.CreatedAt = ev.Timestamp.Add(-time.Duration(rep.Age) * time.Second).UTC()
		}
		if t.Role == "" {
			t.Role = flow.RoleAgent
		}
		ev.Fields["task_sid"] = ev.TaskSid
		ev.Fields["transfer"] = t.Linked
	}
	if ev.ConferenceSid != "" && d.ConferenceSid == "" {
		d.ConferenceSid = ev.ConferenceSid
	}
	if ev.ConferenceName != "" && d.ConferenceName == "" {
		d.ConferenceName = ev.ConferenceName
	}

	switch {
	case ev.Name == "action.failed":
		r.failedActionFacts()
	case strings.HasPrefix(ev.Name, "reservation."):
		return r.reservationFacts()
	case strings.HasPrefix(ev.Name, "task."):
		if t := d.Tasks[ev.TaskSid]; t != nil {
			switch strings.TrimPrefix(ev.Name, "task.") {
			case "canceled", "completed", "wrapup", "deleted", "system-deleted":
				if t.Linked && (t.Status == "canceled" || t.Status == "completed") {
					// flowd closed this transfer's task itself (a canceled
					// transfer): its callback, however late, is about a
					// transfer that is over, not the one under way now.
					return "flowd closed this transfer task already; its callbacks are recorded, not delivered"
				}
				t.Status = strings.TrimPrefix(ev.Name, "task.")
				t.ReservationPending = false
			}
		}
	case ev.Name == "conference.start" || ev.Name == "conference.end":
		if ev.SequenceNumber > 0 {
			if ev.SequenceNumber <= d.ConferenceSeq {
				return "an event with a higher SequenceNumber was already applied to the conference"
			}
			d.ConferenceSeq = ev.SequenceNumber
		}
		d.ConferenceUp = ev.Name == "conference.start"
		if ended, _ := ev.Fields["ended_by_call_sid"].(string); ended != "" {
			ev.Fields["ended_by"] = d.roleOfCall(ended)
		}
	case strings.HasPrefix(ev.Name, "participant.") || strings.HasPrefix(ev.Name, "announcement."):
		return r.participantFacts()
	case ev.Name == "call.status":
		return r.callStatusFacts()
	}
	return ""
}

func (r *run) reservationFacts() string {
	ev, d := r.ev, r.d
	t := d.task(ev.TaskSid)
	role := t.Role
	if role == "" {
		role = flow.RoleAgent
	}
	ev.Fields["role"] = role
	ev.Fields["reservation_sid"] = ev.ReservationSid
	ev.Fields["worker_sid"] = ev.WorkerSid
	switch ev.Name {
	case "reservation.created":
		t.Reservation = ev.ReservationSid
		t.ReservationPending = true
		t.WorkerSid = ev.WorkerSid
		w := make(map[string]any, 4)
		w["sid"], w["attributes"] = ev.WorkerSid, ev.WorkerAttributes
		if ev.WorkerAttributes != nil {
			if cu, ok := ev.WorkerAttributes["contact_uri"]; ok {
				w["contact_uri"] = cu
			}
		}
		if n, ok := ev.Fields["worker_name"]; ok {
			w["name"] = n
		}
		d.Worker = w
	case "reservation.accepted":
		t.ReservationPending = false
		t.Assigned = true
	default:
		if ev.ReservationSid != "" && t.Reservation != "" && ev.ReservationSid != t.Reservation {
			// TaskRouter already offered the task again (its new
			// reservation's callback came first): this one is over.
			return "about an earlier reservation of the task; a newer one is under way"
		}
		t.ReservationPending = false
	}
	return ""
}

// failedActionFacts takes back what flowd noted when it asked for a REST
// call that has now failed for good (action.failed).
func (r *run) failedActionFacts() {
	ev, d := r.ev, r.d
	role, _ := ev.Fields["role"].(string)
	ref, _ := ev.Fields["participant"].(string)
	p := d.Roles[role]
	switch op, _ := ev.Fields["op"].(string); op {
	case string(twilio.OpCreateParticipant):
		// A leg flowd could not create never existed: its role is free
		// again (a supervisor can be dialed anew, and commands on the
		// role are refused instead of acting on nothing).
		if p != nil && !p.Joined && p.CallSid == "" {
			delete(d.Roles, role)
		}
	case string(twilio.OpDeleteParticipant):
		// A participant flowd removed (its role given up, maybe to another
		// leg) that Twilio would not remove: end its call instead, or it
		// stays in the conference unknown to the flow.
		if removed := d.Removed[ref]; removed != "" && strings.HasPrefix(ref, "CA") {
			r.endCall("remove", removed, ref)
		}
	case string(twilio.OpUpdateParticipant):
		// flowd notes a hold or a mute when it asks for one; Twilio never
		// did it, so the note goes back, and the flow's recovery (and the
		// desktop's commands) see the caller still on hold. Only while the
		// role is the same leg and nothing asked otherwise since (a later
		// hold waits behind this failed unhold, so it has set Hold again).
		if p == nil || ref == "" || (ref != p.CallSid && ref != p.Label) {
			return
		}
		switch action, _ := ev.Fields["action"].(string); {
		case action == "hold" && p.Hold:
			p.Hold = false
		case action == "unhold" && !p.Hold:
			p.Hold = true
		case action == "mute" && p.Muted:
			p.Muted = false
		case action == "unmute" && !p.Muted:
			p.Muted = true
		case ev.failed != nil && ev.failed.Before != nil && ev.failed.Op.UpdateParticipant != nil:
			// A whisper, barge or listen Twilio refused (a whisper on an
			// account without Agent Conference: 16000): the supervisor is
			// as before, unless a later request asked otherwise.
			asked, before := ev.failed.Op.UpdateParticipant, ev.failed.Before
			if (asked.Muted == nil || *asked.Muted == p.Muted) && (asked.Coaching == nil || *asked.Coaching == p.Coaching) {
				p.Muted, p.Coaching, p.CoachRole = before.Muted, before.Coaching, before.CoachRole
			}
		}
	}
}

// participantFacts resolves the participant's role and applies hold, mute,
// coaching and presence, ordered by SequenceNumber per participant.
func (r *run) participantFacts() string {
	ev, d := r.ev, r.d
	label, _ := ev.Fields["label"].(string)
	role := ""
	if ev.CallSid != "" {
		if left, gone := d.Left[ev.CallSid]; gone {
			ev.Fields["role"] = left
			return "the participant already left the conference"
		}
		if removed, ok := d.Removed[ev.CallSid]; ok {
			// flowd removed this leg and already gave its role away (a
			// transfer hands "agent" to the consultee): delivering its leave
			// as that role would mislead the flow, so it is only recorded.
			ev.Fields["role"] = removed
			if ev.Name == "participant.leave" {
				delete(d.Removed, ev.CallSid)
				d.markLeft(ev.CallSid, removed)
			}
			return "flowd removed this participant; its callbacks are recorded, not delivered"
		}
	}
	// The call SID decides first: a transfer hands a leg's role to
	// another role, while Twilio keeps the label the leg was dialed with.
	// The label decides for a leg whose SID flowd does not know yet.
	role = d.roleOfCall(ev.CallSid)
	if withdrawn, ok := d.withdrawnCall(role, label, ev.CallSid); ok {
		// A leg flowd withdrew got its join TwiML just before: it must
		// not stay in the call.
		ev.Fields["role"] = withdrawn
		if ev.Name != "participant.leave" && ev.ConferenceSid != "" {
			r.addOp("withdraw", withdrawn, twilio.Op{Kind: twilio.OpDeleteParticipant, ConferenceSid: ev.ConferenceSid, Participant: ev.CallSid})
		}
		return "flowd withdrew this leg before it joined; it is removed"
	}
	if role == "" && label != "" {
		role = d.roleOfLabel(label)
		if role == "" && r.fl.HasRole(label) {
			role = label // a leg dialed before labels were made unique
		}
	}
	if role == "" && ev.CallSid != "" && label == "" {
		// TaskRouter's conference instruction dials the worker without a
		// label: an unknown leg while no agent is known is the agent. Not
		// a labelled leg: flowd labels the legs it dials (role-N), and one
		// whose role is gone (a supervisor removed while still ringing)
		// taken as the agent moved the flow to talking with nobody there.
		if p := d.Roles[flow.RoleAgent]; p == nil || p.CallSid == "" {
			role = flow.RoleAgent
			if p := d.role(flow.RoleAgent); p.TaskSid == "" {
				p.TaskSid = d.TaskSid
			}
		}
	}
	ev.Fields["role"] = role
	if role == "" {
		return ""
	}
	p := d.role(role)
	if ev.SequenceNumber > 0 {
		if ev.SequenceNumber <= p.Seq && p.CallSid == ev.CallSid {
			return "an event with a higher SequenceNumber was already applied to this participant"
		}
		p.Seq = ev.SequenceNumber
	}
	if ev.CallSid != "" {
		p.CallSid = ev.CallSid
	}
	if label != "" {
		p.Label = label
	}
	switch ev.Name {
	case "participant.join":
		p.Joined = true
		defer r.recoach("recoach", role) // a new agent: the whisper follows
		if t := d.Tasks[p.TaskSid]; t != nil {
			t.Assigned = true // the worker it brought is in the call
		}
		p.Hold, _ = ev.Fields["hold"].(bool)
		p.Muted, _ = ev.Fields["muted"].(bool)
		p.Coaching, _ = ev.Fields["coaching"].(bool)
	case "participant.leave":
		d.markLeft(ev.CallSid, role)
		delete(d.Roles, role)
	case "participant.hold":
		p.Joined, p.Hold = true, true
	case "participant.unhold":
		p.Joined, p.Hold = true, false
	case "participant.mute":
		p.Joined, p.Muted = true, true
	case "participant.unmute":
		p.Joined, p.Muted = true, false
	case "participant.modify":
		p.Joined = true
		if v, ok := ev.Fields["hold"].(bool); ok {
			p.Hold = v
		}
		if v, ok := ev.Fields["muted"].(bool); ok {
			p.Muted = v
		}
		if v, ok := ev.Fields["coaching"].(bool); ok {
			p.Coaching = v
		}
	}
	return ""
}

// callStatusFacts handles a leg's status: a dialed role whose call ended
// before joining (busy, no answer) is no longer in the call. The leg's role
// is found as participantFacts finds it (call SID, then the label in the
// callback URL); the role in the URL is only the one it was dialed as.
func (r *run) callStatusFacts() string {
	ev, d := r.ev, r.d
	urlRole, _ := ev.Fields["role"].(string)
	label, _ := ev.Fields["label"].(string)
	delete(ev.Fields, "label")
	role := d.roleOfCall(ev.CallSid)
	alreadyLeft := false
	if role == "" && ev.CallSid != "" {
		if removed, ok := d.Removed[ev.CallSid]; ok {
			// As for its conference callbacks: its role may belong to
			// another leg by now.
			ev.Fields["role"] = removed
			return "flowd removed this leg; its callbacks are recorded, not delivered"
		}
		if left, ok := d.Left[ev.CallSid]; ok {
			role, alreadyLeft = left, true
		}
	}
	status, _ := ev.Fields["status"].(string)
	if withdrawn, ok := d.withdrawnCall(role, label, ev.CallSid); ok {
		ev.Fields["role"] = withdrawn
		if !callEnded(status) {
			r.endCall("withdraw", withdrawn, ev.CallSid)
			return "flowd withdrew this leg before it answered; it is hung up"
		}
		return "flowd withdrew this leg before it answered; its callbacks are recorded, not delivered"
	}
	if role == "" {
		if label != "" {
			role = d.roleOfLabel(label)
		} else {
			role = urlRole // a leg dialed before callback URLs named its label
		}
	}
	ev.Fields["role"] = role
	if role == "" || role == flow.RoleCustomer {
		return ""
	}
	p := d.Roles[role]
	if p == nil {
		return ""
	}
	if alreadyLeft && p.CallSid != ev.CallSid {
		// The leg left the call earlier and its role is another leg's now
		// (the next agent of a transfer, whose phone may still ring with
		// no call SID known yet): this status is the old leg's last word.
		// Taken as the role's, it freed the new agent's role, and the
		// worker who answered was told the call was no longer needed.
		return "this leg already left the call and its role is another leg's now; its status is recorded, not delivered"
	}
	if ev.CallSid != "" && p.CallSid == "" {
		p.CallSid = ev.CallSid
	}
	if callEnded(status) {
		// A leg that joined the conference leaves it by the conference's
		// participant-leave callback, which the flow handles (an agent
		// who hung up); this status callback and that one race, so the
		// status of a joined leg changes nothing. Otherwise the leave
		// arriving second was dropped as "already left", and the caller
		// stayed alone in the conference.
		if p.Joined && p.CallSid == ev.CallSid {
			return ""
		}
		if p.CallSid == ev.CallSid || p.CallSid == "" {
			d.markLeft(ev.CallSid, role)
			delete(d.Roles, role)
		}
	}
	return ""
}

// callEnded reports whether a CallStatus is final.
func callEnded(status string) bool {
	switch status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		return true
	}
	return false
}

var patterns sync.Map // pattern -> *regexp.Regexp

func matchPattern(pattern, s string) bool {
	v, ok := patterns.Load(pattern)
	if !ok {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return false
		}
		v, _ = patterns.LoadOrStore(pattern, re)
	}
	return v.(*regexp.Regexp).MatchString(s)
}
