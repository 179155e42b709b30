// Package stats counts named values for a pipeline run: the seed's shared
// Stats namespace, without a global lock per increment.
//
// It ports the Python seed's Stats helper:
//
//	set_stats_val(name, v)   -> Registry.Set
//	inc_stats_val(name, d)   -> Registry.Add
//	inc_stats_vals(dict)     -> Registry.AddAll
//	get_stats_val(name)      -> Registry.Get
//	get_stats(ignore_keys)   -> Registry.Snapshot
//	time_spent()             -> Registry.Elapsed
//
// The seed guarded one dict with one lock, so every increment from every
// stage contended on the same mutex. Here each name owns its own Counter (a
// single atomic int64), and looking up an existing name takes no lock, so
// stages only contend when they bump the very same counter. Hot loops can go
// further and keep the *Counter returned by Registry.Counter, which skips the
// name lookup entirely.
//
// Totals ("items_total", "batches_total", ...) are ordinary counters that
// are additionally marked by Registry.SetTotal, so progress reporting can ask
// for them alone via Registry.Totals.
package stats
