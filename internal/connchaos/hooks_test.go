package connchaos_test

import "github.com/conveyor-go/conveyor/sink/sqlsink"

// Hooks for the options the fixes of issue 13 add. Each returns nil while
// the API it stands for does not exist; the suite then leaves out what
// needs it (and says so in the run's description). Once the option lands,
// make the hook return it: nothing else in the suite changes.

// upsertOn is the sqlsink option that makes Insert upsert on the column
// key (issue 13, point 7: "an option makes sqlsink upsert on a key"), so
// that a redelivered batch adds nothing. With it, a run into an SQL sink
// drawn with upsert keys its table on the id and checks exactly once;
// without it the table has no key and the suite checks at least once.
func upsertOn[T any](key string) sqlsink.Option[T] {
	_ = key
	return nil // HOOK(issue 13, point 7): return sqlsink.<Upsert option>[T](key)
}
