package twiliosim

import (
	"testing"
	"time"

	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// A task nobody is assigned within its timeout is canceled with
// TaskCanceledReason "Task TTL Exceeded"; one that was assigned is not.
func TestTaskTimeoutCancelsAnUnassignedTask(t *testing.T) {
	s := NewTest(t, Options{})
	a := newApp(t, s)
	wf := s.AddWorkflow("main", "support")
	s.AddWorker("alice", alice, nil, "support")
	s.ConfigureWorkspace(WorkspaceConfig{AssignmentCallbackURL: a.url("/assign"), EventCallbackURL: a.url("/events")})
	p := &tr.CreateTaskParams{}
	p.SetWorkflowSid(wf)
	p.SetAttributes(`{"skill":"support"}`)
	p.SetTimeout(120)
	task, err := restClient(t, s).TaskrouterV1.CreateTask(s.WorkspaceSid(), p)
	must(t, err)
	settle(t, s)
	s.Advance(119 * time.Second)
	settle(t, s)
	if info, _ := s.Task(*task.Sid); info.AssignmentStatus != "pending" {
		t.Fatalf("before its timeout the task is %s", info.AssignmentStatus)
	}
	s.Advance(2 * time.Second)
	settle(t, s)
	info, _ := s.Task(*task.Sid)
	if info.AssignmentStatus != "canceled" {
		t.Fatalf("after its timeout the task is %s, want canceled", info.AssignmentStatus)
	}
	var found bool
	for _, r := range a.requests("/events") {
		if r.Form.Get("EventType") == "task.canceled" && r.Form.Get("TaskSid") == *task.Sid {
			found = r.Form.Get("TaskCanceledReason") == "Task TTL Exceeded"
		}
	}
	if !found {
		t.Fatal("no task.canceled event with TaskCanceledReason \"Task TTL Exceeded\"")
	}

	// A task a worker took is not canceled by its timeout.
	must(t, s.SetWorkerAvailable("alice", true))
	task2, err := restClient(t, s).TaskrouterV1.CreateTask(s.WorkspaceSid(), p)
	must(t, err)
	settle(t, s)
	info, _ = s.Task(*task2.Sid)
	if len(info.Reservations) != 1 {
		t.Fatalf("the second task was not reserved: %+v", info)
	}
	ap := &tr.UpdateTaskReservationParams{}
	ap.SetReservationStatus("accepted")
	_, err = restClient(t, s).TaskrouterV1.UpdateTaskReservation(s.WorkspaceSid(), *task2.Sid, info.Reservations[0].Sid, ap)
	must(t, err)
	settle(t, s)
	s.Advance(121 * time.Second)
	settle(t, s)
	if info, _ := s.Task(*task2.Sid); info.AssignmentStatus != "assigned" {
		t.Fatalf("an assigned task past its timeout is %s, want assigned", info.AssignmentStatus)
	}
}
