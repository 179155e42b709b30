package stage

import "github.com/conveyor-go/conveyor/internal/flow"

// Chain joins two stages into one, checked by the compiler: first's output
// type must be second's input type. Use it to build reusable sub-chains in a
// library, then use the result with pipeline's Via like any stage. Errors
// and logs name the inner stage as "first+second/inner".
func Chain[A, B, C any](first *Of[A, B], second *Of[B, C]) *Of[A, C] {
	if first == nil || second == nil {
		return invalidStage[A, C]("chain", "nil stage in Chain")
	}
	name := first.name + "+" + second.name
	if first.invalid != "" {
		return invalidStage[A, C](name, first.name+": "+first.invalid)
	}
	if second.invalid != "" {
		return invalidStage[A, C](name, second.name+": "+second.invalid)
	}
	return newOf[A, C](name, NextOf[C], func(sc *flow.Scope, down flow.Port[C]) (flow.Port[A], error) {
		mid, err := second.attach(sc.Sub(second.name), down)
		if err != nil {
			return nil, err
		}
		return first.attach(sc.Sub(first.name), mid)
	})
}
