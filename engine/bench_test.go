package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/store"
)

// benchSessions prepares n calls in state "queued" (for assignment
// callbacks) or "connecting" (for conference callbacks).
func benchSessions(b *testing.B, h *harness, n int, connect bool) {
	b.Helper()
	for i := 0; i < n; i++ {
		ev := incoming()
		ev.CallSid = fmt.Sprintf("CA%032d", i)
		if _, err := h.e.Handle(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
		if connect {
			if _, err := h.e.Handle(context.Background(), benchAssignment(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchAssignment(i int) engine.Event {
	ev := assignment()
	ev.TaskSid = fmt.Sprintf("WT%032d", i)
	ev.ReservationSid = fmt.Sprintf("WR%032d", i)
	ev.TaskAttributes = map[string]any{"call_sid": fmt.Sprintf("CA%032d", i), "flowd_session": fmt.Sprintf("CA%032d", i)}
	return ev
}

func benchJoin(i int) engine.Event {
	ev := join(fmt.Sprintf("CB%032d", i), "", 1)
	ev.ConferenceSid = fmt.Sprintf("CF%032d", i)
	ev.ConferenceName = fmt.Sprintf("WT%032d", i)
	ev.Session = fmt.Sprintf("CA%032d", i)
	return ev
}

// benchEvents builds the events before the timer starts: what a benchmark
// of Handle measures is Handle, not the test's fmt.Sprintf calls (the
// server's share, parsing the webhook, is in the load run).
func benchEvents(n int, event func(i int) engine.Event) []engine.Event {
	events := make([]engine.Event, n)
	for i := range events {
		events[i] = event(i)
	}
	return events
}

func benchStores(b *testing.B) map[string]func() store.Store {
	return map[string]func() store.Store{
		"memory": func() store.Store { return store.NewMemory() },
		"sqlite": func() store.Store {
			st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
	}
}

// BenchmarkHandleAssignment: a TaskRouter assignment callback answered with
// the conference instruction (load, guard, transition, instruction, commit).
func BenchmarkHandleAssignment(b *testing.B) {
	for _, name := range []string{"memory", "sqlite"} {
		b.Run(name, func(b *testing.B) {
			h := newHarness(&testing.T{}, benchStores(b)[name]())
			benchSessions(b, h, b.N, false)
			events := benchEvents(b.N, benchAssignment)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := h.e.Handle(context.Background(), events[i]); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0)
		})
	}
}

// BenchmarkHandleConferenceJoin: a conference participant-join callback
// that moves the call to talking.
func BenchmarkHandleConferenceJoin(b *testing.B) {
	for _, name := range []string{"memory", "sqlite"} {
		b.Run(name, func(b *testing.B) {
			h := newHarness(&testing.T{}, benchStores(b)[name]())
			benchSessions(b, h, b.N, true)
			events := benchEvents(b.N, benchJoin)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := h.e.Handle(context.Background(), events[i]); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0)
		})
	}
}

// TestManyStoredTasksMemory stores FLOWD_MEMTEST_TASKS calls (each through
// incoming, assignment and the agent's join) on SQLite and reports the
// process's resident memory; skipped unless the variable is set.
//
//	FLOWD_MEMTEST_TASKS=100000 go test -run TestManyStoredTasksMemory -v ./engine/
func TestManyStoredTasksMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FLOWD_MEMTEST_TASKS"))
	if n == 0 {
		t.Skip("set FLOWD_MEMTEST_TASKS=100000 to run")
	}
	for _, name := range []string{"sqlite", "memory"} {
		t.Run(name, func(t *testing.T) {
			var st store.Store
			if name == "sqlite" {
				var err error
				st, err = store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "mem.db"))
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
			} else {
				st = store.NewMemory()
			}
			h := newHarness(t, st)
			for i := 0; i < n; i++ {
				ev := incoming()
				ev.CallSid = fmt.Sprintf("CA%032d", i)
				h.handle(ev)
				h.handle(benchAssignment(i))
				h.handle(benchJoin(i))
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			live, _ := st.Live(context.Background())
			defer runtime.KeepAlive(h) // measure with the engine (and its caches) alive
			t.Logf("%s: %d live tasks stored; Go heap in use %.1f MB (sys %.1f MB); process resident %s", name, live, float64(ms.HeapInuse)/1e6, float64(ms.Sys)/1e6, rss())
		})
	}
}

// rss reads the process's resident set size from /proc (Linux).
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:"))
		}
	}
	return "unknown"
}

// BenchmarkHandleConcurrent runs the two events above with 16 in flight per
// core, each for a different call, as a server receives them: ns/op is the
// cost per event (wall time / events), not one event's latency. A store
// that writes concurrent commits together (SQLite's group commit) shares
// one transaction among them.
func BenchmarkHandleConcurrent(b *testing.B) {
	for _, ev := range []struct {
		name    string
		connect bool
		event   func(i int) engine.Event
	}{
		{"assignment", false, benchAssignment},
		{"conference-join", true, benchJoin},
	} {
		for _, name := range []string{"memory", "sqlite"} {
			b.Run(ev.name+"/"+name, func(b *testing.B) {
				h := newHarness(&testing.T{}, benchStores(b)[name]())
				benchSessions(b, h, b.N, ev.connect)
				events := benchEvents(b.N, ev.event)
				var next atomic.Int64
				b.ReportAllocs()
				b.SetParallelism(16)
				b.ResetTimer()
				cpu0 := cpuTime()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := int(next.Add(1) - 1)
						if _, err := h.e.Handle(context.Background(), events[i]); err != nil {
							b.Fatal(err)
						}
					}
				})
				reportCPU(b, cpu0)
			})
		}
	}
}

// reportCPU adds cpu-ns/op: the process's CPU time (every goroutine: the
// SQLite writer, GC) per event since cpu0. On a shared machine it is
// steadier than wall time, which also counts time other tenants took.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
