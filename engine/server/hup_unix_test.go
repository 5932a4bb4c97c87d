//go:build unix

package server

import (
	"os"
	"syscall"
	"testing"
)

// sendHUP signals this process; Run has registered for SIGHUP, so it is not
// fatal.
func sendHUP(t *testing.T) bool {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	return true
}

// sendHUPSupported: sendHUP signals this process here.
const sendHUPSupported = true
