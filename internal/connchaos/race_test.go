//go:build race

package connchaos_test

import "time"

// margin is what the suite allows past a bound of issue 13 under the race
// detector, which slows the library's shutdown path about threefold on
// this 2-core machine (see the distribution a pass logs).
const margin = 500 * time.Millisecond
