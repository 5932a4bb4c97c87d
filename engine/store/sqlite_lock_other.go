//go:build !unix

package store

// lockSQLite: no advisory file lock on this platform; one process per file
// is then up to the operator (see sqlite_lock_unix.go).
func lockSQLite(string) (func() error, error) { return func() error { return nil }, nil }
